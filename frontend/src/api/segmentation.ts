/**
 * How the viewer talks to the model. `SocketSegmentationTransport` goes through the image room
 * (WebSocket /ws/images/<id>/, DESIGN.md §7): prompts answered by `proposal`, propagation progress pushed.
 * `HttpSegmentationTransport` (request + polling) is its fallback whenever the socket is not open.
 */

import { ApiError, api, toApiError, uuid } from "./client";
import type { ImageRoom } from "./room";
import type { ServerMessage } from "./roomProtocol";
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

type PropagateOptions = { startSlice?: number; labelId?: number; onProgress: (p: PropagationProgress) => void };

interface PendingPrompt {
  frameId: number;
  request: PromptRequest;
  resolve: (p: Proposal) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
}

interface WatchedJob {
  id: number;
  options: PropagateOptions;
  done: (job: SegmentationJob) => void;
  fail: (e: unknown) => void;
  finished: boolean;
}

/**
 * Prompts and propagation through the image room. A newer prompt supersedes older ones on the server
 * (only the newest is answered), so older pending prompts are settled as aborted here. If the socket is
 * not open, or drops while a prompt waits, the prompt goes over HTTP instead; a propagation job started
 * on the socket is polled over HTTP while the socket is down.
 */
export class SocketSegmentationTransport implements SegmentationTransport {
  private readonly http: HttpSegmentationTransport;
  private readonly prompts = new Map<string, PendingPrompt>();
  private readonly starting = new Map<string, { resolveId: (id: number) => void; fail: (e: unknown) => void }>();
  private readonly jobs = new Map<number, WatchedJob>();
  private readonly unsubscribe: Array<() => void> = [];
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private closed = false;

  constructor(
    private readonly slug: string,
    private readonly room: ImageRoom,
    private readonly pollMs = 1000,
  ) {
    this.http = new HttpSegmentationTransport(slug);
    this.unsubscribe.push(room.on((m) => this.onMessage(m)));
    this.unsubscribe.push(
      room.state.subscribe(() => {
        if (!room.isOpen) this.onSocketDown();
      }),
    );
  }

  prompt(frameId: number, request: PromptRequest, signal?: AbortSignal): Promise<Proposal> {
    if (!this.room.isOpen) return this.http.prompt(frameId, request, signal);
    const requestId = uuid();
    // Only the newest prompt is answered: settle the older ones now rather than leave them waiting.
    for (const [id, p] of this.prompts) {
      this.prompts.delete(id);
      p.reject(new ApiError(0, "aborted", "Superseded by a newer prompt."));
    }
    return new Promise<Proposal>((resolve, reject) => {
      const pending: PendingPrompt = { frameId, request, resolve, reject, signal };
      signal?.addEventListener(
        "abort",
        () => {
          if (this.prompts.delete(requestId)) reject(new ApiError(0, "aborted", "Cancelled."));
        },
        { once: true },
      );
      this.prompts.set(requestId, pending);
      const sent = this.room.send({ type: "prompt", request_id: requestId, frame_id: frameId, ...request });
      if (!sent) this.retryOverHttp(requestId);
    });
  }

  propagate(
    seriesId: number,
    box3d: [number, number, number, number, number, number],
    options: PropagateOptions,
  ): PropagationHandle {
    if (!this.room.isOpen || seriesId !== this.room.seriesId) return this.http.propagate(seriesId, box3d, options);
    const requestId = uuid();
    let resolveId!: (id: number) => void;
    let rejectId!: (e: unknown) => void;
    const jobId = new Promise<number>((res, rej) => {
      resolveId = res;
      rejectId = rej;
    });
    jobId.catch(() => undefined);
    const result = new Promise<SegmentationJob>((resolve, reject) => {
      this.starting.set(requestId, {
        resolveId: (id) => {
          resolveId(id);
          this.jobs.set(id, { id, options, done: resolve, fail: reject, finished: false });
          options.onProgress({ jobId: id, done: 0, total: box3d[5] - box3d[2] + 1, status: "queued" });
          if (!this.room.isOpen) this.ensurePolling();
        },
        fail: (e) => {
          rejectId(e);
          reject(e);
        },
      });
    });
    const msg: Record<string, unknown> = { type: "propagate", request_id: requestId, box: box3d };
    if (options.startSlice !== undefined) msg.start_slice = options.startSlice;
    if (options.labelId !== undefined) msg.label_id = options.labelId;
    if (!this.room.send(msg)) {
      this.starting.get(requestId)?.fail(new ApiError(0, "network", "The connection dropped; try again."));
      this.starting.delete(requestId);
    }
    const cancel = async () => {
      const id = await jobId;
      if (!this.room.send({ type: "cancel", job_id: id })) await api.segmentation.cancelJob(this.slug, id);
    };
    return { jobId, result, cancel };
  }

  close(): void {
    this.closed = true;
    for (const u of this.unsubscribe.splice(0)) u();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.http.close();
    for (const p of this.prompts.values()) p.reject(new ApiError(0, "aborted", "Closed."));
    this.prompts.clear();
  }

  private onMessage(m: ServerMessage): void {
    switch (m.type) {
      case "proposal": {
        const p = this.prompts.get(m.request_id);
        if (!p) return;
        this.prompts.delete(m.request_id);
        const proposal: Proposal = { frame_id: m.frame_id, model: m.model, masks: m.masks, scores: m.scores, best: m.best };
        if (m.timing_ms) proposal.timing_ms = m.timing_ms;
        p.resolve(proposal);
        return;
      }
      case "error": {
        if (!m.request_id) return;
        const p = this.prompts.get(m.request_id);
        const error = new ApiError(0, m.code, m.message || `The request failed (${m.code.replace(/_/g, " ")}).`);
        if (p) {
          this.prompts.delete(m.request_id);
          p.reject(error);
          return;
        }
        const s = this.starting.get(m.request_id);
        if (s) {
          this.starting.delete(m.request_id);
          s.fail(error);
        }
        return;
      }
      case "job": {
        if (m.request_id && this.starting.has(m.request_id)) {
          const s = this.starting.get(m.request_id)!;
          this.starting.delete(m.request_id);
          s.resolveId(m.job_id);
        }
        const job = this.jobs.get(m.job_id);
        if (job && (m.status === "done" || m.status === "failed" || m.status === "cancelled")) void this.finish(job);
        return;
      }
      case "progress": {
        const job = this.jobs.get(m.job_id);
        if (job && !job.finished) job.options.onProgress({ jobId: job.id, done: m.done, total: m.total, status: "running" });
        return;
      }
      default:
        return;
    }
  }

  /** The job ended: fetch its result (the socket only says that it ended). */
  private async finish(job: WatchedJob): Promise<void> {
    if (job.finished) return;
    job.finished = true;
    this.jobs.delete(job.id);
    try {
      let result = await api.segmentation.job(this.slug, job.id);
      // The push can beat the row's commit by a moment.
      for (let i = 0; i < 10 && (result.status === "queued" || result.status === "running"); i++) {
        await sleep(200);
        result = await api.segmentation.job(this.slug, job.id);
      }
      if (result.status === "failed") {
        const code = result.error_code || "propagation_failed";
        throw new ApiError(200, code, PROPAGATION_ERRORS[code] ?? `Propagation failed (${code.replace(/_/g, " ")}).`);
      }
      job.options.onProgress({ jobId: job.id, done: result.done, total: result.total, status: result.status });
      job.done(result);
    } catch (err) {
      job.fail(toApiError(err));
    }
  }

  private onSocketDown(): void {
    if (this.closed) return;
    for (const id of [...this.prompts.keys()]) this.retryOverHttp(id);
    for (const [id, s] of this.starting) {
      this.starting.delete(id);
      s.fail(new ApiError(0, "network", "The connection dropped before the propagation started; try again."));
    }
    if (this.jobs.size) this.ensurePolling();
  }

  private retryOverHttp(requestId: string): void {
    const p = this.prompts.get(requestId);
    if (!p) return;
    this.prompts.delete(requestId);
    this.http.prompt(p.frameId, p.request, p.signal).then(p.resolve, p.reject);
  }

  /** While the socket is down, follow running jobs by polling. */
  private ensurePolling(): void {
    if (this.pollTimer || this.closed) return;
    this.pollTimer = setInterval(() => {
      if (this.room.isOpen || this.jobs.size === 0) {
        if (this.pollTimer) clearInterval(this.pollTimer);
        this.pollTimer = null;
        return;
      }
      for (const job of this.jobs.values()) {
        api.segmentation.job(this.slug, job.id).then(
          (j) => {
            if (j.status === "done" || j.status === "failed" || j.status === "cancelled") void this.finish(job);
            else job.options.onProgress({ jobId: job.id, done: j.done, total: j.total, status: j.status });
          },
          () => undefined,
        );
      }
    }, this.pollMs);
  }
}
