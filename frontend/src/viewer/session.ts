/**
 * The viewer's link to a saved annotation: loads its label maps (and the reader's autosaved drafts),
 * saves edits as versions (optimistic: a save names its base version), autosaves drafts, settles a 409
 * conflict the way the user chooses, submits the read, and applies others' saves pushed by the room.
 *
 * Unsaved edits are never dropped: they stay in the viewer's maps until a save succeeds; a save that
 * fails on the network is retried (same Idempotency-Key, so it cannot apply twice) when the connection
 * is back.
 */

import { ApiError, api, toApiError, uuid } from "../api/client";
import type { ImageRoom } from "../api/room";
import type { ServerMessage } from "../api/roomProtocol";
import type { Annotation, MaskSaveRequest, Task } from "../api/types";
import { notify } from "../state/notify";
import { Store } from "../state/store";
import type { ViewerController } from "./controller";
import { decodeLabels, encodeLabels, type LabelRle } from "./rle";
import { DirtyTracker, type EditSource, type SaveSnapshot, type SaveStatus, isRetryable, resolveConflict } from "./saveState";

export type SessionKind = "read" | "consensus" | "view" | "scratch";

export interface SessionState {
  kind: SessionKind;
  status: SaveStatus;
  head: number;
  dirtyFrames: number;
  task: Task | null;
  annotation: Annotation | null;
  /** Frames of the annotation loaded so far (for the loading line). */
  loaded: { done: number; total: number } | null;
  /** A newer version was saved elsewhere while this page has unsaved edits. */
  remoteNotice: string | null;
  submitting: boolean;
}

export interface SessionOptions {
  slug: string;
  controller: ViewerController;
  room: ImageRoom | null;
  annotation: Annotation | null;
  task: Task | null;
  kind: SessionKind;
  /** Why this page may not edit (null: it may). */
  readonlyReason: string | null;
}

interface PendingSave {
  key: string;
  body: MaskSaveRequest;
  snap: SaveSnapshot;
}

const DRAFT_DEBOUNCE_MS = 1500;
const LOAD_CONCURRENCY = 4;

export class AnnotationSession {
  readonly state: Store<SessionState>;
  private readonly tracker = new DirtyTracker();
  private readonly slug: string;
  private readonly c: ViewerController;
  private readonly room: ImageRoom | null;
  private pending: PendingSave | null = null;
  private inFlight: Promise<boolean> | null = null;
  private saveAgain = false;
  private remoteVersion = 0;
  private draftGen = 0;
  private draftTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private retryAttempt = 0;
  private disposed = false;
  private readonly abort = new AbortController();
  private readonly unbind: Array<() => void> = [];
  private readonlyReason: string | null;

  constructor(opts: SessionOptions) {
    this.slug = opts.slug;
    this.c = opts.controller;
    this.room = opts.room;
    this.readonlyReason = opts.readonlyReason;
    const initial: SaveStatus =
      opts.kind === "scratch" ? { kind: "scratch" } : opts.annotation ? { kind: "loading" } : { kind: "scratch" };
    this.state = new Store<SessionState>({
      kind: opts.annotation ? opts.kind : "scratch",
      status: initial,
      head: opts.annotation?.head ?? 0,
      dirtyFrames: 0,
      task: opts.task,
      annotation: opts.annotation,
      loaded: null,
      remoteNotice: null,
      submitting: false,
    });
    if (opts.annotation) this.c.setEditBlocked("Loading the saved annotation…");
    if (this.room) {
      this.unbind.push(this.room.on((m) => this.onRoomMessage(m)));
      this.unbind.push(this.room.onReconnected(() => this.onConnectionBack()));
      this.unbind.push(this.room.onResync(() => void this.onResync()));
    }
    const online = () => this.onConnectionBack();
    window.addEventListener("online", online);
    this.unbind.push(() => window.removeEventListener("online", online));
    const beforeUnload = (e: BeforeUnloadEvent) => {
      if (this.hasUnsaved) {
        e.preventDefault();
        e.returnValue = "";
      }
    };
    window.addEventListener("beforeunload", beforeUnload);
    this.unbind.push(() => window.removeEventListener("beforeunload", beforeUnload));
  }

  get annotationId(): number | null {
    return this.state.get().annotation?.id ?? null;
  }

  get hasUnsaved(): boolean {
    return this.tracker.size > 0 || this.pending !== null;
  }

  get editable(): boolean {
    const k = this.state.get().kind;
    return (k === "read" || k === "consensus") && this.readonlyReason === null;
  }

  dispose(): void {
    this.disposed = true;
    this.abort.abort();
    for (const u of this.unbind.splice(0)) u();
    if (this.draftTimer) clearTimeout(this.draftTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  // ---- loading ---------------------------------------------------------------------------------

  /** Load the saved maps (editing waits for them), then look for autosaved drafts in the background. */
  async load(): Promise<void> {
    const ann = this.state.get().annotation;
    if (!ann) {
      this.c.setEditBlocked(null);
      return;
    }
    try {
      await this.loadSaved();
    } catch (err) {
      if (this.disposed) return;
      const e = toApiError(err);
      this.setStatus({ kind: "error", message: `The annotation could not be loaded: ${e.message}` });
      this.c.setEditBlocked("The saved annotation could not be loaded; reload the page before editing.");
      return;
    }
    if (this.disposed) return;
    this.c.setEditBlocked(this.readonlyReason);
    this.setStatus(this.editable ? { kind: "idle" } : { kind: "readonly", reason: this.readonlyReason ?? "View only" });
    if (this.editable) void this.restoreDrafts();
  }

  private async loadSaved(): Promise<void> {
    const id = this.annotationId!;
    const detail = await api.annotations.get(this.slug, id, this.abort.signal);
    const frameIds = Object.keys(detail.frames).map(Number);
    this.state.update({ head: detail.head, loaded: { done: 0, total: frameIds.length } });
    const maps: Array<[number, Uint8Array | null]> = [];
    let done = 0;
    await pool(frameIds, LOAD_CONCURRENCY, async (frameId) => {
      const z = this.c.zOfFrame(frameId);
      if (z === undefined) return;
      const f = await api.annotations.frame(this.slug, id, frameId, this.abort.signal);
      maps.push([z, this.decode(f.mask)]);
      this.state.update({ loaded: { done: ++done, total: frameIds.length } });
    });
    // Frames that hold labels here but not on the server any more (a reload after a conflict) go blank.
    for (const z of this.c.labels.annotatedFrames()) if (!maps.some(([m]) => m === z)) maps.push([z, null]);
    this.c.loadFrames(maps);
    this.state.update({ head: detail.head, loaded: null });
  }

  /** A reader's drafts (autosaved, not versions) on top of the head they were drawn on. */
  private async restoreDrafts(): Promise<void> {
    const id = this.annotationId!;
    const head = this.state.get().head;
    const count = this.c.state.get().count;
    const restored: number[] = [];
    const zs = Array.from({ length: count }, (_, z) => z);
    await pool(zs, 3, async (z) => {
      const frameId = this.c.frameIdOf(z);
      if (frameId === undefined || this.disposed) return;
      let f;
      try {
        f = await api.annotations.frame(this.slug, id, frameId, this.abort.signal);
      } catch {
        return;
      }
      // A frame already edited here keeps this page's edit; a draft on an older version is stale.
      if (!f.draft || f.draft.base_version !== head || this.tracker.has(z) || this.disposed) return;
      this.c.loadFrames([[z, this.decode(f.draft.mask)]]);
      this.tracker.mark([z], "mixed");
      restored.push(z);
    });
    if (restored.length && !this.disposed) {
      this.draftGen = this.tracker.generation;
      this.changed();
      notify("info", `Restored unsaved work on ${restored.length} slice${restored.length === 1 ? "" : "s"} from your autosave.`);
    }
  }

  private decode(rle: LabelRle): Uint8Array | null {
    const { rows, cols } = this.c.labels;
    if (rle.values.length === 1 && rle.values[0] === 0) return null;
    if (rle.size[0] !== rows || rle.size[1] !== cols) throw new ApiError(0, "mask_shape", "A saved mask does not match the image size.");
    return decodeLabels(rle);
  }

  // ---- edits, drafts and saving ------------------------------------------------------------------

  /** The controller reports an edit. */
  mark(frames: number[], source: EditSource | "mixed"): void {
    if (!this.editable || frames.length === 0) return;
    this.tracker.mark(frames, source);
    this.changed();
    if (this.draftTimer) clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => void this.flushDrafts(), DRAFT_DEBOUNCE_MS);
  }

  private changed(): void {
    this.state.update({ dirtyFrames: this.tracker.size });
    const s = this.state.get().status;
    if (s.kind === "error") this.setStatus({ kind: "idle" });
  }

  private encode(z: number): LabelRle {
    const { rows, cols } = this.c.labels;
    const map = this.c.labels.peek(z);
    return map ? encodeLabels(map, rows, cols) : { size: [rows, cols], values: [0], counts: [rows * cols] };
  }

  /** Autosave: each frame changed since the last draft, privately, on top of the current head. */
  private async flushDrafts(): Promise<void> {
    this.draftTimer = null;
    const st = this.state.get().status.kind;
    if (!this.editable || this.disposed || st === "conflict" || st === "offline" || st === "saving") return;
    const gen = this.tracker.generation;
    const frames = this.tracker.changedSince(this.draftGen);
    if (frames.length === 0) return;
    const before = this.draftGen;
    this.draftGen = gen;
    const head = this.state.get().head;
    const id = this.annotationId!;
    try {
      await pool(frames, 2, async (z) => {
        const frameId = this.c.frameIdOf(z);
        if (frameId === undefined || !this.tracker.has(z)) return;
        await api.annotations.draft(this.slug, id, frameId, { base_version: head, mask: this.encode(z) });
      });
    } catch {
      this.draftGen = Math.min(this.draftGen, before); // try these frames again with the next flush
    }
  }

  /** Save every unsaved frame as one new version. Resolves true when everything is saved. */
  save(): Promise<boolean> {
    if (!this.editable) return Promise.resolve(false);
    if (this.state.get().status.kind === "conflict") return Promise.resolve(false);
    if (this.inFlight) {
      this.saveAgain = true;
      return this.inFlight;
    }
    this.inFlight = (async () => {
      let ok = true;
      do {
        this.saveAgain = false;
        ok = await this.saveOnce();
      } while (ok && this.saveAgain && this.tracker.size > 0);
      return ok;
    })().finally(() => {
      this.inFlight = null;
      this.afterSave();
    });
    return this.inFlight;
  }

  private async saveOnce(): Promise<boolean> {
    let req = this.pending;
    if (!req) {
      if (this.tracker.size === 0) return true;
      const snap = this.tracker.snapshot();
      const frames: Record<string, LabelRle> = {};
      let n = 0;
      for (const z of snap.frames.keys()) {
        const frameId = this.c.frameIdOf(z);
        if (frameId !== undefined) frames[String(frameId)] = this.encode(z);
        // A long propagation saves many slices: let the page breathe between batches of encoding.
        if (++n % 8 === 0) await new Promise((r) => setTimeout(r, 0));
      }
      req = {
        key: uuid(),
        body: { base_version: this.state.get().head, source: snap.source, frames },
        snap,
      };
      this.pending = req;
    }
    this.setStatus({ kind: "saving" });
    try {
      const version = await api.annotations.save(this.slug, this.annotationId!, req.body, req.key);
      if (this.disposed) return true;
      this.pending = null;
      this.retryAttempt = 0;
      this.tracker.settle(req.snap);
      this.state.update({ head: Math.max(version.number, this.state.get().head), remoteNotice: null });
      this.setStatus({ kind: "idle" });
      this.changed();
      return true;
    } catch (err) {
      const e = toApiError(err);
      if (this.disposed) return false;
      if (e.code === "stale_version") {
        this.pending = null;
        const current = Number(e.extra.current_version ?? this.remoteVersion);
        this.setStatus({ kind: "conflict", current, base: req.body.base_version, by: this.remoteBy });
        return false;
      }
      if (isRetryable(e)) {
        // Keep the exact request: a retry with the same key cannot create the version twice.
        this.setStatus({ kind: "offline", message: "Offline: your edits are kept here and saved when the connection is back" });
        this.scheduleRetry();
        return false;
      }
      this.pending = null;
      this.setStatus({ kind: "error", message: `Not saved: ${e.message}` });
      return false;
    }
  }

  private remoteBy: string | null = null;

  private afterSave(): void {
    // Saves pushed by the room while ours was in flight (ours included) are handled now.
    if (this.remoteVersion > this.state.get().head) void this.onRemoteSave(this.remoteVersion, this.remoteBy, null);
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    const delay = Math.min(30_000, 2000 * 2 ** this.retryAttempt++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.save();
    }, delay);
  }

  private onConnectionBack(): void {
    if (this.disposed) return;
    if (this.state.get().status.kind === "offline" || this.pending) {
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.retryAttempt = 0;
      void this.save();
    } else if (this.tracker.changedSince(this.draftGen).length) {
      void this.flushDrafts();
    }
  }

  /** The user settles a 409: take the saved version, or put theirs on top of it as a new version. */
  async resolveConflict(choice: "reload" | "keep"): Promise<void> {
    const s = this.state.get().status;
    if (s.kind !== "conflict") return;
    const plan = resolveConflict(choice, s);
    this.state.update({ head: plan.base, remoteNotice: null });
    if (plan.keepLocal) {
      this.setStatus({ kind: "idle" });
      const ok = await this.save();
      if (ok) notify("success", `Your edits were saved as version ${this.state.get().head}, on top of version ${plan.base}.`);
      return;
    }
    this.tracker.clear();
    this.pending = null;
    this.setStatus({ kind: "loading" });
    this.c.setEditBlocked("Loading the saved annotation…");
    try {
      await this.loadSaved();
      this.c.resetHistory();
      this.draftGen = this.tracker.generation;
      this.state.update({ dirtyFrames: 0 });
      this.setStatus({ kind: "idle" });
      notify("info", `Reloaded version ${this.state.get().head}; your unsaved edits were discarded.`);
    } catch (err) {
      this.setStatus({ kind: "error", message: `Reload failed: ${toApiError(err).message}` });
    } finally {
      this.c.setEditBlocked(this.readonlyReason);
    }
  }

  // ---- submit ------------------------------------------------------------------------------------

  /** Save what is unsaved, then submit the read for review. */
  async submit(): Promise<boolean> {
    const task = this.state.get().task;
    if (!task || this.state.get().kind !== "read" || !this.editable) return false;
    this.state.update({ submitting: true });
    try {
      if (this.hasUnsaved && !(await this.save())) {
        notify("error", "Save your edits before submitting (see the save status above the image).");
        return false;
      }
      if (this.state.get().head === 0) {
        notify("error", "Nothing is saved yet: draw, accept or paint a mask and save it before submitting.");
        return false;
      }
      const key = uuid();
      let submitted: Task;
      try {
        submitted = await api.tasks.submit(this.slug, task.id, key);
      } catch (err) {
        const e = toApiError(err);
        if (!isRetryable(e)) throw e;
        submitted = await api.tasks.submit(this.slug, task.id, key); // one retry, same key: at most once
      }
      this.readonlyReason = "Submitted for review: the read is locked unless a reviewer returns it";
      this.state.update({ task: submitted, kind: "read" });
      this.setStatus({ kind: "readonly", reason: this.readonlyReason });
      this.c.setEditBlocked(this.readonlyReason);
      return true;
    } catch (err) {
      notify("error", `Not submitted: ${toApiError(err).message}`);
      return false;
    } finally {
      this.state.update({ submitting: false });
    }
  }

  // ---- realtime ----------------------------------------------------------------------------------

  private onRoomMessage(m: ServerMessage): void {
    if (m.type !== "mask_saved" || m.annotation_id !== this.annotationId) return;
    if (m.version <= this.state.get().head) return; // ours, or already loaded
    this.remoteVersion = Math.max(this.remoteVersion, m.version);
    this.remoteBy = m.author;
    if (this.inFlight) return; // settled after our save returns (afterSave)
    void this.onRemoteSave(m.version, m.author, m.frames.map((f) => f.frame_id));
  }

  /** Someone else (or this user in another tab) saved a newer version. */
  private async onRemoteSave(version: number, author: string | null, frameIds: number[] | null): Promise<void> {
    if (version <= this.state.get().head || this.disposed) return;
    if (this.hasUnsaved) {
      this.state.update({
        remoteNotice: `Version ${version} was saved elsewhere${author ? ` by ${author}` : ""}. Saving will ask whether to keep yours or theirs.`,
      });
      return;
    }
    try {
      const id = this.annotationId!;
      const ids = frameIds ?? Object.keys((await api.annotations.get(this.slug, id, this.abort.signal)).frames).map(Number);
      const maps: Array<[number, Uint8Array | null]> = [];
      let newest = version;
      await pool(ids, LOAD_CONCURRENCY, async (frameId) => {
        const z = this.c.zOfFrame(frameId);
        if (z === undefined) return;
        const f = await api.annotations.frame(this.slug, id, frameId, this.abort.signal);
        newest = Math.max(newest, f.version);
        maps.push([z, this.decode(f.mask)]);
      });
      if (this.hasUnsaved || this.disposed) return; // an edit started meanwhile: the save will 409 and ask
      this.c.loadFrames(maps);
      if (this.editable) this.c.resetHistory();
      this.state.update({ head: Math.max(newest, this.state.get().head) });
      notify("info", `${author ?? "Someone"} saved version ${version}: ${maps.length} slice${maps.length === 1 ? "" : "s"} updated.`, 3500);
    } catch {
      // The next save answers 409 and asks; nothing is lost by not reloading now.
    }
  }

  private async onResync(): Promise<void> {
    const ann = this.annotationId;
    if (!ann || this.disposed) return;
    try {
      const detail = await api.annotations.get(this.slug, ann, this.abort.signal);
      if (detail.head > this.state.get().head) void this.onRemoteSave(detail.head, null, null);
    } catch {
      // Best effort: a stale base still answers 409 at the next save.
    }
  }

  private setStatus(status: SaveStatus): void {
    this.state.update({ status });
  }
}

/** Run `fn` over `items`, at most `limit` at a time; the first failure rejects (after the others settle). */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure;
}
