/**
 * The one typed data-access module: every request the app makes goes through here.
 *
 * Session-cookie auth; unsafe methods carry X-CSRFToken read from the `csrftoken` cookie (fetched from
 * /api/auth/csrf/ when missing). Every failure becomes an ApiError whose `message` is fit to show a user.
 */

import type {
  Annotation,
  AnnotationDetail,
  AnnotationFrame,
  ApiErrorBody,
  ApiLabel,
  BulkRequest,
  BulkResult,
  Case,
  CaseReview,
  CurationAccess,
  CurationStats,
  DuplicatesReport,
  ExportFormat,
  ExportJob,
  FilePreset,
  FilterDocument,
  FindPage,
  FindRequest,
  FramePixels,
  IngestJob,
  Instance,
  LabelInput,
  LabelMapRle,
  MaskSaveRequest,
  MaskVersion,
  Member,
  ModelList,
  PixelDtype,
  PolicyInput,
  Project,
  PromptRequest,
  Proposal,
  ReadingPolicy,
  SavedFilter,
  SegmentationCodes,
  SegmentationJob,
  Series,
  SeriesDetail,
  SignOff,
  Snapshot,
  SnapshotDiff,
  SnapshotExport,
  SnapshotExportFormat,
  SnapshotItem,
  SnapshotPreview,
  SnapshotSelection,
  SplitName,
  Study,
  TagCount,
  Task,
  User,
} from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  get isAuth(): boolean {
    return this.status === 401 || this.code === "not_authenticated" || this.code === "authentication_failed";
  }

  get isAbort(): boolean {
    return this.code === "aborted";
  }
}

/** Messages in words for codes whose server text is terse or absent. */
const FRIENDLY: Record<string, string> = {
  network: "Cannot reach the server. Check the connection and try again.",
  not_authenticated: "Your session has ended. Please log in again.",
  csrf_failed: "The page's security token expired. Reload the page and try again.",
  permission_denied: "You do not have permission to do that in this project.",
  throttled: "Too many attempts. Wait a little and try again.",
  model_busy: "The segmentation model is busy. Try again in a moment.",
  stale_version: "Someone saved a newer version of this annotation while you were editing.",
  reauthentication_failed: "The password is not correct.",
  not_signed: "The project requires a sign-off before export, and this case's annotation is not signed yet.",
  nothing_to_export: "The case has no consensus or signed annotation to export yet.",
  nothing_to_submit: "Save a mask before submitting.",
  task_submitted: "This read was submitted; it can be edited again only if a reviewer returns it.",
  server_error: "The server failed; the error was logged. Try again, or report it if it persists.",
};

/** Field errors ({"fields": {"name": ["msg"]}}) flattened into one readable sentence. */
function describeFields(extra: Record<string, unknown>): string {
  const fields = extra.fields;
  if (!fields || typeof fields !== "object") return "";
  const parts: string[] = [];
  for (const [name, value] of Object.entries(fields as Record<string, unknown>)) {
    const text = Array.isArray(value) ? value.map(String).join(" ") : String(value);
    parts.push(name === "non_field_errors" ? text : `${name}: ${text}`);
  }
  return parts.join("; ");
}

export function errorFromBody(status: number, body: unknown): ApiError {
  if (body && typeof body === "object" && "code" in body && "message" in body) {
    const b = body as ApiErrorBody;
    const extra = b.extra ?? {};
    const fields = describeFields(extra);
    let message = b.message || FRIENDLY[b.code] || `The request failed (HTTP ${status}).`;
    if (b.code === "not_authenticated" || b.code === "csrf_failed") message = FRIENDLY[b.code]!;
    if (fields) message = `${message} ${fields}`;
    return new ApiError(status, b.code, message, extra);
  }
  if (status >= 500) return new ApiError(status, "server_error", `${FRIENDLY.server_error} (HTTP ${status})`);
  return new ApiError(status, "http_error", `The request failed (HTTP ${status}).`);
}

/** Turn anything thrown into something with a user-facing message. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof DOMException && err.name === "AbortError") return new ApiError(0, "aborted", "Cancelled.");
  if (err instanceof TypeError) return new ApiError(0, "network", FRIENDLY.network!);
  return new ApiError(0, "client_error", err instanceof Error ? err.message : String(err));
}

type AuthListener = () => void;
const authListeners = new Set<AuthListener>();

/** Called when any request finds the session gone, so the app can route to the login page. */
export function onSessionLost(listener: AuthListener): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

export function readCookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

let csrfPending: Promise<void> | null = null;

async function csrfToken(): Promise<string> {
  let token = readCookie("csrftoken");
  if (!token) {
    csrfPending ??= fetch("/api/auth/csrf/", { credentials: "same-origin" }).then(() => undefined);
    try {
      await csrfPending;
    } finally {
      csrfPending = null;
    }
    token = readCookie("csrftoken");
  }
  return token ?? "";
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal | undefined;
  query?: Record<string, string | number | undefined>;
  /** Sent as Idempotency-Key: a retried mutating POST replays the first success instead of acting twice. */
  idempotencyKey?: string;
}

/** A random v4 UUID (crypto.randomUUID needs a secure context; getRandomValues does not). */
export function uuid(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

async function send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  let body: BodyInit | undefined;
  if (opts.body instanceof FormData) {
    body = opts.body;
  } else if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  if (!SAFE.has(method)) headers["X-CSRFToken"] = await csrfToken();
  if (opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey;
  let url = path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) if (v !== undefined) q.set(k, String(v));
    const s = q.toString();
    if (s) url += `?${s}`;
  }
  let response: Response;
  try {
    const init: RequestInit = { method, headers, credentials: "same-origin" };
    if (body !== undefined) init.body = body;
    if (opts.signal) init.signal = opts.signal;
    response = await fetch(url, init);
  } catch (err) {
    throw toApiError(err);
  }
  if (!response.ok) {
    let parsed: unknown = null;
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
    const error = errorFromBody(response.status, parsed);
    if (error.isAuth && !path.startsWith("/api/auth/")) authListeners.forEach((l) => l());
    throw error;
  }
  return response;
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const response = await send(method, path, opts);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

const p = (slug: string) => `/api/projects/${encodeURIComponent(slug)}`;
const c = (slug: string) => `${p(slug)}/curation`;

function parseJsonHeader<T>(value: string | null, fallback: T): T {
  if (!value) return fallback;
  try {
    return JSON.parse(value) as T;
  } catch {
    return fallback;
  }
}

/** Fetch one frame's raw pixels (the browser undoes the gzip content-encoding). */
export async function fetchFramePixels(
  slug: string,
  instanceId: number,
  frameIndex: number,
  signal?: AbortSignal,
): Promise<FramePixels> {
  const response = await send("GET", `${p(slug)}/instances/${instanceId}/frames/${frameIndex}/pixels`, { signal });
  const h = response.headers;
  const rows = Number(h.get("X-Rows"));
  const columns = Number(h.get("X-Columns"));
  const samples = Number(h.get("X-Samples") ?? "1") === 3 ? 3 : 1;
  const dtype = (h.get("X-Dtype") ?? "int16") as PixelDtype;
  let buffer: ArrayBuffer;
  try {
    buffer = await response.arrayBuffer();
  } catch (err) {
    throw toApiError(err);
  }
  const data =
    dtype === "float32" ? new Float32Array(buffer) : dtype === "uint8" ? new Uint8Array(buffer) : new Int16Array(buffer);
  if (data.length !== rows * columns * samples) {
    throw new ApiError(0, "bad_pixels", `Slice ${frameIndex} arrived incomplete (${data.length} values).`);
  }
  return {
    rows,
    columns,
    samples,
    dtype,
    data,
    photometric: h.get("X-Photometric") ?? "MONOCHROME2",
    modality: h.get("X-Modality") ?? "",
    pixelSpacing: parseJsonHeader<number[] | null>(h.get("X-Pixel-Spacing"), null),
    presets: parseJsonHeader<FilePreset[]>(h.get("X-Window-Presets"), []),
    bytes: buffer.byteLength,
  };
}

export interface UploadHandle {
  promise: Promise<{ status: number; job: IngestJob }>;
  abort: () => void;
}

/** Multipart upload with XHR, whose upload progress events drive the progress bar. */
export function uploadFiles(
  slug: string,
  files: File[],
  options: { burnedInAnnotation?: "YES" | "NO"; onProgress?: (loaded: number, total: number) => void },
): UploadHandle {
  const xhr = new XMLHttpRequest();
  const promise = (async () => {
    const token = await csrfToken();
    const form = new FormData();
    for (const f of files) form.append("files", f, f.name);
    if (options.burnedInAnnotation) form.append("burned_in_annotation", options.burnedInAnnotation);
    return await new Promise<{ status: number; job: IngestJob }>((resolve, reject) => {
      xhr.open("POST", `${p(slug)}/uploads/`);
      xhr.withCredentials = true;
      xhr.setRequestHeader("X-CSRFToken", token);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) options.onProgress?.(e.loaded, e.total);
      };
      xhr.onload = () => {
        let body: unknown = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          body = null;
        }
        if (xhr.status >= 200 && xhr.status < 300) resolve({ status: xhr.status, job: body as IngestJob });
        else reject(errorFromBody(xhr.status, body));
      };
      xhr.onerror = () => reject(new ApiError(0, "network", FRIENDLY.network!));
      xhr.onabort = () => reject(new ApiError(0, "aborted", "Upload cancelled."));
      xhr.send(form);
    });
  })();
  return { promise, abort: () => xhr.abort() };
}

/** A file the server sends as an attachment, with the name from Content-Disposition. */
export interface Download {
  blob: Blob;
  filename: string;
}

export async function download(path: string, query?: RequestOptions["query"], fallbackName = "download"): Promise<Download> {
  const response = await send("GET", path, query ? { query } : {});
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const m = /filename="?([^";]+)"?/i.exec(disposition);
  let blob: Blob;
  try {
    blob = await response.blob();
  } catch (err) {
    throw toApiError(err);
  }
  return { blob, filename: m?.[1] ?? fallbackName };
}

/** Hand a downloaded blob to the browser as a file. */
export function saveDownload(d: Download): void {
  const url = URL.createObjectURL(d.blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = d.filename;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export const api = {
  auth: {
    csrf: () => request<void>("GET", "/api/auth/csrf/"),
    login: (username: string, password: string) =>
      request<User>("POST", "/api/auth/login/", { body: { username, password } }),
    logout: () => request<void>("POST", "/api/auth/logout/"),
    me: () => request<User>("GET", "/api/auth/me/"),
  },
  projects: {
    list: () => request<Project[]>("GET", "/api/projects/"),
    get: (slug: string) => request<Project>("GET", `${p(slug)}/`),
    members: (slug: string) => request<Member[]>("GET", `${p(slug)}/members/`),
  },
  imaging: {
    studies: (slug: string) => request<Study[]>("GET", `${p(slug)}/studies/`),
    studySeries: (slug: string, studyId: number) => request<Series[]>("GET", `${p(slug)}/studies/${studyId}/`),
    series: (slug: string, seriesId: number, signal?: AbortSignal) =>
      request<SeriesDetail>("GET", `${p(slug)}/series/${seriesId}/`, { signal }),
    instance: (slug: string, instanceId: number, signal?: AbortSignal) =>
      request<Instance>("GET", `${p(slug)}/instances/${instanceId}/`, { signal }),
    framePixels: fetchFramePixels,
    framePngUrl: (slug: string, instanceId: number, frameIndex: number, opts: { size?: number } = {}) =>
      `${p(slug)}/instances/${instanceId}/frames/${frameIndex}/png${opts.size ? `?size=${opts.size}` : ""}`,
    upload: uploadFiles,
    ingestJob: (slug: string, jobId: number) => request<IngestJob>("GET", `${p(slug)}/ingest-jobs/${jobId}/`),
  },
  segmentation: {
    models: () => request<ModelList>("GET", "/api/models/"),
    prompt: (slug: string, frameId: number, body: PromptRequest, signal?: AbortSignal) =>
      request<Proposal>("POST", `${p(slug)}/frames/${frameId}/prompt/`, { body, signal }),
    propagate: (slug: string, seriesId: number, box: number[], extra: { start_slice?: number; label_id?: number } = {}) =>
      request<SegmentationJob>("POST", `${p(slug)}/series/${seriesId}/propagate/`, { body: { box, ...extra } }),
    job: (slug: string, jobId: number, signal?: AbortSignal) =>
      request<SegmentationJob>("GET", `${p(slug)}/segmentation-jobs/${jobId}/`, { signal }),
    cancelJob: (slug: string, jobId: number) =>
      request<SegmentationJob>("POST", `${p(slug)}/segmentation-jobs/${jobId}/cancel/`),
  },
  labels: {
    list: (slug: string, signal?: AbortSignal) => request<ApiLabel[]>("GET", `${p(slug)}/labels/`, { signal }),
    create: (slug: string, body: LabelInput) => request<ApiLabel>("POST", `${p(slug)}/labels/`, { body }),
    update: (slug: string, id: number, body: LabelInput) =>
      request<ApiLabel>("PUT", `${p(slug)}/labels/${id}/`, { body }),
    remove: (slug: string, id: number) => request<void>("DELETE", `${p(slug)}/labels/${id}/`),
    codes: () => request<SegmentationCodes>("GET", "/api/codes/segmentation/"),
  },
  policy: {
    get: (slug: string) => request<ReadingPolicy>("GET", `${p(slug)}/policy/`),
    update: (slug: string, body: PolicyInput) => request<ReadingPolicy>("PUT", `${p(slug)}/policy/`, { body }),
  },
  tasks: {
    mine: (slug: string, signal?: AbortSignal) => request<Task[]>("GET", `${p(slug)}/tasks/mine/`, { signal }),
    /** The reader's current task, or the next one in the queue; null when there is none. */
    next: async (slug: string): Promise<Task | null> => (await request<Task | undefined>("POST", `${p(slug)}/tasks/next/`)) ?? null,
    annotation: (slug: string, taskId: number) => request<Annotation>("GET", `${p(slug)}/tasks/${taskId}/annotation/`),
    submit: (slug: string, taskId: number, idempotencyKey: string) =>
      request<Task>("POST", `${p(slug)}/tasks/${taskId}/submit/`, { idempotencyKey }),
  },
  annotations: {
    get: (slug: string, id: number, signal?: AbortSignal) =>
      request<AnnotationDetail>("GET", `${p(slug)}/annotations/${id}/`, { signal }),
    frame: (slug: string, id: number, frameId: number, signal?: AbortSignal) =>
      request<AnnotationFrame>("GET", `${p(slug)}/annotations/${id}/frames/${frameId}/`, { signal }),
    versions: (slug: string, id: number) => request<MaskVersion[]>("GET", `${p(slug)}/annotations/${id}/versions/`),
    save: (slug: string, id: number, body: MaskSaveRequest, idempotencyKey: string) =>
      request<MaskVersion>("POST", `${p(slug)}/annotations/${id}/versions/`, { body, idempotencyKey }),
    draft: (slug: string, id: number, frameId: number, body: { base_version: number; mask: LabelMapRle }) =>
      request<void>("PUT", `${p(slug)}/annotations/${id}/drafts/${frameId}/`, { body }),
    signoff: (slug: string, id: number, password: string) =>
      request<SignOff>("POST", `${p(slug)}/annotations/${id}/signoff/`, { body: { password } }),
  },
  cases: {
    list: (slug: string, status?: Case["status"]) => request<Case[]>("GET", `${p(slug)}/cases/`, { query: { status } }),
  },
  review: {
    queue: (slug: string) => request<Case[]>("GET", `${p(slug)}/review/queue/`),
    case: (slug: string, caseId: number, signal?: AbortSignal) =>
      request<CaseReview>("GET", `${p(slug)}/cases/${caseId}/review/`, { signal }),
    consensus: (slug: string, caseId: number, body: { method: string; annotation_id?: number }, idempotencyKey: string) =>
      request<Annotation>("POST", `${p(slug)}/cases/${caseId}/consensus/`, { body, idempotencyKey }),
    returnToReader: (slug: string, caseId: number, taskId: number, comment: string) =>
      request<Task>("POST", `${p(slug)}/cases/${caseId}/return/`, { body: { task_id: taskId, comment } }),
  },
  exports: {
    caseFile: (slug: string, caseId: number, format: ExportFormat) =>
      download(`${p(slug)}/cases/${caseId}/export/`, { format }, `case-${caseId}.${format}`),
    start: (slug: string, formats: ExportFormat[], idempotencyKey: string) =>
      request<ExportJob>("POST", `${p(slug)}/exports/`, { body: { formats }, idempotencyKey }),
    job: (slug: string, jobId: number) => request<ExportJob>("GET", `${p(slug)}/exports/${jobId}/`),
    file: (slug: string, jobId: number) => download(`${p(slug)}/exports/${jobId}/download/`, undefined, `export-${jobId}.zip`),
  },
  curation: {
    /** 200 for curators (owners, reviewers); 403 role_required for other members; 404 for outsiders. */
    access: (slug: string) => request<CurationAccess>("GET", `${c(slug)}/access/`),
    find: (slug: string, body: FindRequest, signal?: AbortSignal) =>
      request<FindPage>("POST", `${c(slug)}/find/`, { body, signal }),
    /** Across every project the user belongs to (or the `projects` named in the filter). */
    findAll: (body: FindRequest, signal?: AbortSignal) => request<FindPage>("POST", "/api/curation/find/", { body, signal }),
    filters: (slug: string) => request<SavedFilter[]>("GET", `${c(slug)}/filters/`),
    saveFilter: (slug: string, body: { name: string; description?: string; document: FilterDocument }) =>
      request<SavedFilter>("POST", `${c(slug)}/filters/`, { body }),
    updateFilter: (slug: string, id: number, body: { name?: string; description?: string; document?: FilterDocument }) =>
      request<SavedFilter>("PUT", `${c(slug)}/filters/${id}/`, { body }),
    deleteFilter: (slug: string, id: number) => request<void>("DELETE", `${c(slug)}/filters/${id}/`),
    bulk: (slug: string, body: BulkRequest) => request<BulkResult>("POST", `${c(slug)}/bulk/`, { body }),
    tags: (slug: string) => request<TagCount[]>("GET", `${c(slug)}/tags/`),
    stats: (slug: string, query: { snapshot?: number; bins?: number; days?: number } = {}, signal?: AbortSignal) =>
      request<CurationStats>("GET", `${c(slug)}/stats/`, { query, signal }),
    refreshStats: (slug: string) => request<{ stale: number }>("POST", `${c(slug)}/stats/refresh/`),
    duplicates: (slug: string, maxDistance: number) =>
      request<DuplicatesReport>("GET", `${c(slug)}/duplicates/`, { query: { max_distance: maxDistance } }),
    scanDuplicates: (slug: string) => request<{ missing: number }>("POST", `${c(slug)}/duplicates/scan/`),
    snapshots: (slug: string) => request<Snapshot[]>("GET", `${c(slug)}/snapshots/`),
    snapshot: (slug: string, id: number) => request<Snapshot>("GET", `${c(slug)}/snapshots/${id}/`),
    preview: (slug: string, body: SnapshotSelection & { max_distance?: number }) =>
      request<SnapshotPreview>("POST", `${c(slug)}/snapshots/preview/`, { body }),
    createSnapshot: (slug: string, body: SnapshotSelection & { name: string; description?: string }, idempotencyKey: string) =>
      request<Snapshot>("POST", `${c(slug)}/snapshots/`, { body, idempotencyKey }),
    snapshotItems: (slug: string, id: number, query: { split?: SplitName; cursor?: string; limit?: number } = {}) =>
      request<{ items: SnapshotItem[]; next_cursor: string | null }>("GET", `${c(slug)}/snapshots/${id}/items/`, { query }),
    diff: (slug: string, id: number, otherId: number) =>
      request<SnapshotDiff>("GET", `${c(slug)}/snapshots/${id}/diff/${otherId}/`),
    exports: (slug: string, id: number) => request<SnapshotExport[]>("GET", `${c(slug)}/snapshots/${id}/exports/`),
    startExport: (slug: string, id: number, formats: SnapshotExportFormat[], idempotencyKey: string) =>
      request<SnapshotExport>("POST", `${c(slug)}/snapshots/${id}/exports/`, { body: { formats }, idempotencyKey }),
    exportJob: (slug: string, id: number, exportId: number, signal?: AbortSignal) =>
      request<SnapshotExport>("GET", `${c(slug)}/snapshots/${id}/exports/${exportId}/`, { signal }),
    /** A plain link: the browser sends the session cookie and saves the zip itself. */
    exportUrl: (slug: string, id: number, exportId: number) => `${c(slug)}/snapshots/${id}/exports/${exportId}/download/`,
  },
};

export type Api = typeof api;
