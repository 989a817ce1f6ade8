/**
 * The pure half of the image-room client (backend/realtime/protocol.schema.json): reconnect backoff and
 * sequence bookkeeping. Durable server events (mask_saved, case_status) take a per-room number; on
 * reconnect the client sends `resume` with the last number it saw and receives what it missed (or
 * `resync` when it must refetch over REST). Ephemeral messages carry the current number without taking one.
 */

export interface RoomUser {
  id: number;
  username: string;
  color: string;
}

export interface MaskSavedEvent {
  type: "mask_saved";
  annotation_id: number;
  case_id: number;
  version: number;
  author_id: number;
  author: string;
  frames: Array<{ frame_id: number; bbox: [number, number, number, number] | null }>;
  seq: number;
}

export interface PresenceEvent {
  type: "presence";
  user: RoomUser;
  slice: number;
  frame_id?: number | null;
  seq: number;
}

export type ServerMessage =
  | { type: "hello"; protocol: string; seq: number; series_id: number; user: RoomUser }
  | { type: "proposal"; request_id: string; frame_id: number; model: string; masks: Array<{ size: [number, number]; counts: number[] }>; scores: number[]; best: number; timing_ms?: Record<string, number>; seq: number }
  | MaskSavedEvent
  | { type: "case_status"; case_id: number; status: "reading" | "in_review" | "signed"; seq: number }
  | { type: "progress"; job_id: number; kind: string; done: number; total: number; seq: number; ephemeral: true }
  | { type: "job"; job_id: number; kind: string; status: "queued" | "running" | "done" | "failed" | "cancelled"; request_id?: string; error?: string; seq: number }
  | PresenceEvent
  | { type: "error"; code: string; message?: string; request_id?: string }
  | { type: "resync"; seq: number }
  | { type: "resumed"; seq: number }
  | { type: "pong"; payload?: unknown };

/** Messages that never take a sequence number of their own. */
const EPHEMERAL = new Set(["hello", "pong", "proposal", "job", "error", "resync", "resumed", "progress", "presence"]);

export function isDurable(msg: { type: string; seq?: unknown; ephemeral?: unknown }): boolean {
  return !EPHEMERAL.has(msg.type) && msg.ephemeral !== true && typeof msg.seq === "number";
}

/**
 * Reconnect delay for the n-th consecutive failed attempt (0-based): exponential from `baseMs`, capped at
 * `maxMs`, with jitter in [50 %, 100 %] so a server restart is not met by every client at the same instant.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random, baseMs = 500, maxMs = 15_000): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(exp * (0.5 + 0.5 * random()));
}

export type SeqAction =
  | { kind: "deliver" }
  | { kind: "drop" }
  /** After hello on a reconnect: ask for what was missed since `lastSeq`. */
  | { kind: "resume"; lastSeq: number }
  /** The server could not replay: refetch state over REST. */
  | { kind: "resync" };

/**
 * Tracks the last durable sequence number across reconnects. Feed it every server message; it says whether
 * to deliver it, drop it (a duplicate replayed by a resume), or send `resume` / refetch state.
 *
 * While resuming, live events may arrive before the replayed ones (the consumer joins the room before it
 * answers `resume`), so numbers above the resume point are deduplicated by set, not by high-water mark.
 */
export class SeqTracker {
  /** The last durable number seen (or the room's number at the first hello). */
  lastSeq: number | null = null;
  private mode: "live" | "resuming" = "live";
  private base = 0;
  private seen = new Set<number>();

  get resuming(): boolean {
    return this.mode === "resuming";
  }

  /** A socket opened. On a reconnect, everything after the last number seen is awaited from `resume`. */
  onOpen(): void {
    if (this.lastSeq === null) return;
    this.mode = "resuming";
    this.base = this.lastSeq;
    this.seen = new Set();
  }

  /** Any server message. */
  accept(msg: { type: string; seq?: unknown; ephemeral?: unknown }): SeqAction {
    const seq = Number(msg.seq);
    switch (msg.type) {
      case "hello":
        return this.onHello(Number.isFinite(seq) ? seq : 0);
      case "resumed":
        this.finishResume(Number.isFinite(seq) ? seq : 0);
        return { kind: "deliver" };
      case "resync":
        this.mode = "live";
        this.seen.clear();
        if (Number.isFinite(seq)) this.lastSeq = seq;
        return { kind: "resync" };
    }
    if (!isDurable(msg)) return { kind: "deliver" };
    if (this.mode === "resuming") {
      if (seq <= this.base || this.seen.has(seq)) return { kind: "drop" };
      this.seen.add(seq);
      return { kind: "deliver" };
    }
    if (this.lastSeq !== null && seq <= this.lastSeq) return { kind: "drop" };
    this.lastSeq = seq;
    return { kind: "deliver" };
  }

  private onHello(seq: number): SeqAction {
    if (this.lastSeq === null) {
      this.lastSeq = seq;
      this.mode = "live";
      return { kind: "deliver" };
    }
    if (this.mode !== "resuming") this.onOpen();
    if (seq < this.base) {
      // The room's counter went backwards (a restored database): what we hold cannot be trusted.
      this.mode = "live";
      this.seen.clear();
      this.lastSeq = seq;
      return { kind: "resync" };
    }
    if (seq === this.base) {
      this.finishResume(seq); // nothing happened while we were away
      return { kind: "deliver" };
    }
    return { kind: "resume", lastSeq: this.base };
  }

  private finishResume(seq: number): void {
    let top = Math.max(this.base, seq, this.lastSeq ?? 0);
    for (const s of this.seen) top = Math.max(top, s);
    this.lastSeq = top;
    this.mode = "live";
    this.seen.clear();
  }
}
