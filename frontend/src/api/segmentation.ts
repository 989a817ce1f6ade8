/**
 * How the viewer talks to the model: an interface, so the HTTP (request + polling) transport used now can
 * be replaced by the WebSocket room /ws/images/<id>/ (DESIGN.md §7) without touching the viewer.
 */

import { ApiError, api, toApiError } from "./client";
import type { PromptRequest, Proposal, SegmentationJob } from "./types";

export interface PropagationProgress {
  jobId: number;
  done: number;
  total: number;
  status: SegmentationJob["status"];
}

export interface PropagationHandle {
  jobId: Promise<number>;
  /** Resolves with the finished job (status done or cancelled); rejects with an ApiError on failure. */
  result: Promise<SegmentationJob>;
  cancel: () => Promise<void>;
}

export interface SegmentationTransport {
  prompt(frameId: number, request: PromptRequest, signal?: AbortSignal): Promise<Proposal>;
  propagate(
    seriesId: number,
    box3d: [number, number, number, number, number, number],
    options: { startSlice?: number; labelId?: number; onProgress: (p: PropagationProgress) => void },
  ): PropagationHandle;
  close(): void;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(new DOMException("aborted", "AbortError"));
      },
      { once: true },
    );
  });

/** Refusals of a prompt, in words (the server's messages name numbers; these say what to do). */
export const PROMPT_ERRORS: Record<string, string> = {
  box_out_of_bounds: "The box reaches outside the image. Draw it inside the image.",
  box_inverted: "The box is inverted. Draw it again.",
  box_empty: "The box is empty. Drag a larger box around the structure.",
  point_out_of_bounds: "That click is outside the image.",
  prompt_missing: "Draw a box or click on the structure first.",
  unknown_model: "The chosen segmentation model is not available on this server.",
  no_previous_mask: "There is no earlier proposal on this slice to refine.",
  frame_not_found: "This slice no longer exists on the server. Reload the series.",
  model_busy: "The segmentation model is busy. Try again in a moment.",
  start_slice_out_of_range: "The start slice must lie inside the propagation range.",
};

export const PROPAGATION_ERRORS: Record<string, string> = {
  box_out_of_bounds: "The propagation box lies outside the volume.",
  series_empty: "The series has no slices.",
};

/** Request/response for prompts; polling for propagation jobs. */
export class HttpSegmentationTransport implements SegmentationTransport {
  private readonly closed = new AbortController();

  constructor(
    private readonly slug: string,
    private readonly pollMs = 400,
  ) {}

  prompt(frameId: number, request: PromptRequest, signal?: AbortSignal): Promise<Proposal> {
    return api.segmentation.prompt(this.slug, frameId, request, signal);
  }

  propagate(
    seriesId: number,
    box3d: [number, number, number, number, number, number],
    options: { startSlice?: number; labelId?: number; onProgress: (p: PropagationProgress) => void },
  ): PropagationHandle {
    let resolveId!: (id: number) => void;
    let rejectId!: (e: unknown) => void;
    const jobId = new Promise<number>((res, rej) => {
      resolveId = res;
      rejectId = rej;
    });
    jobId.catch(() => undefined);
    const extra: { start_slice?: number; label_id?: number } = {};
    if (options.startSlice !== undefined) extra.start_slice = options.startSlice;
    if (options.labelId !== undefined) extra.label_id = options.labelId;
    const result = (async () => {
      let job: SegmentationJob;
      try {
        job = await api.segmentation.propagate(this.slug, seriesId, box3d, extra);
      } catch (err) {
        rejectId(err);
        throw toApiError(err);
      }
      resolveId(job.id);
      options.onProgress({ jobId: job.id, done: job.done, total: job.total, status: job.status });
      let failures = 0;
      while (job.status === "queued" || job.status === "running") {
        await sleep(this.pollMs, this.closed.signal);
        try {
          job = await api.segmentation.job(this.slug, job.id, this.closed.signal);
          failures = 0;
        } catch (err) {
          const e = toApiError(err);
          // A dropped poll is not a failed job: keep polling through brief network trouble.
          if (e.code !== "network" || ++failures > 10) throw e;
          continue;
        }
        options.onProgress({ jobId: job.id, done: job.done, total: job.total, status: job.status });
      }
      if (job.status === "failed") {
        const code = job.error_code || "propagation_failed";
        throw new ApiError(200, code, PROPAGATION_ERRORS[code] ?? `Propagation failed (${code.replace(/_/g, " ")}).`);
      }
      return job;
    })();
    const cancel = async () => {
      const id = await jobId;
      await api.segmentation.cancelJob(this.slug, id);
    };
    return { jobId, result, cancel };
  }

  close(): void {
    this.closed.abort();
  }
}
