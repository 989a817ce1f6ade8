/**
 * The image room over WebSocket (/ws/images/<series_id>/, DESIGN.md §7): one socket per open series.
 * Reconnects with backoff and resumes from the last sequence number; a ping every 20 s detects a dead
 * connection. Listeners get every delivered server message; `state` says how the connection is doing
 * (for the offline/reconnecting banner) and who else is looking at the image (presence).
 */

import { Store } from "../state/store";
import { type PresenceEvent, type RoomUser, type ServerMessage, SeqTracker, backoffDelay } from "./roomProtocol";

export type RoomStatus = "connecting" | "open" | "reconnecting" | "offline" | "denied" | "closed";

export interface Peer {
  user: RoomUser;
  slice: number;
  frameId: number | null;
  /** performance.now() of the last presence message. */
  at: number;
}

export interface RoomState {
  status: RoomStatus;
  /** Consecutive failed attempts since the socket was last open. */
  attempt: number;
  /** Epoch ms of the next reconnect attempt, when one is scheduled. */
  retryAt: number | null;
  /** Why the server refused the room (close codes 4401/4403/4410). */
  deniedReason: string | null;
  me: RoomUser | null;
  peers: Peer[];
}

export type RoomListener = (msg: ServerMessage) => void;

const CLOSE_REASONS: Record<number, string> = {
  4401: "Your session has ended. Log in again to keep working together.",
  4403: "You are not a member of this project.",
  4410: "Your access to this project was revoked.",
};

const PING_MS = 20_000;
const DEAD_MS = 45_000;
const PRESENCE_TTL_MS = 60_000;
const PRESENCE_THROTTLE_MS = 200;

export interface WebSocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface RoomOptions {
  url?: string;
  createSocket?: (url: string) => WebSocketLike;
  now?: () => number;
}

export function roomUrl(seriesId: number, loc: { protocol: string; host: string } = window.location): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/ws/images/${seriesId}/`;
}

export class ImageRoom {
  readonly state = new Store<RoomState>({
    status: "connecting",
    attempt: 0,
    retryAt: null,
    deniedReason: null,
    me: null,
    peers: [],
  });
  readonly seq = new SeqTracker();

  private socket: WebSocketLike | null = null;
  private readonly listeners = new Set<RoomListener>();
  private readonly resyncListeners = new Set<() => void>();
  private readonly openListeners = new Set<() => void>();
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastMessageAt = 0;
  private presence: { slice: number; frame_id: number } | null = null;
  private presenceTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private everOpen = false;
  private readonly url: string;
  private readonly createSocket: (url: string) => WebSocketLike;
  private readonly now: () => number;
  private readonly onOnline = () => this.retryNow();
  private readonly onOffline = () => {
    if (this.state.get().status !== "open") this.state.update({ status: "offline" });
  };

  constructor(
    readonly seriesId: number,
    opts: RoomOptions = {},
  ) {
    this.url = opts.url ?? roomUrl(seriesId);
    this.createSocket = opts.createSocket ?? ((url) => new WebSocket(url) as unknown as WebSocketLike);
    this.now = opts.now ?? (() => performance.now());
    if (typeof window !== "undefined") {
      window.addEventListener("online", this.onOnline);
      window.addEventListener("offline", this.onOffline);
    }
    this.connect();
  }

  get isOpen(): boolean {
    return this.state.get().status === "open" && this.socket?.readyState === 1;
  }

  /** Every delivered server message (duplicates from a resume are dropped). */
  on(listener: RoomListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The server could not replay what was missed: refetch state over REST. */
  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  /** The socket is open again after having been down (not on the first open). */
  onReconnected(listener: () => void): () => void {
    this.openListeners.add(listener);
    return () => this.openListeners.delete(listener);
  }

  /** Send a client message; false when the socket is not open (the caller falls back to HTTP). */
  send(msg: Record<string, unknown>): boolean {
    if (!this.isOpen) return false;
    try {
      this.socket!.send(JSON.stringify(msg));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Where this user is looking; re-sent on reconnect and periodically so others' lists stay fresh.
   * Throttled (a scroll through a volume changes slice every frame): at most one message per 200 ms,
   * and the last position is always sent.
   */
  setPresence(slice: number, frameId: number): void {
    this.presence = { slice, frame_id: frameId };
    if (this.presenceTimer) return;
    this.send({ type: "presence", ...this.presence });
    const sent = this.presence;
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = null;
      if (this.presence && this.presence !== sent) this.send({ type: "presence", ...this.presence });
    }, PRESENCE_THROTTLE_MS);
  }

  retryNow(): void {
    if (this.closed) return;
    const status = this.state.get().status;
    if (status === "open" || status === "denied" || this.socket) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.presenceTimer) clearTimeout(this.presenceTimer);
    if (typeof window !== "undefined") {
      window.removeEventListener("online", this.onOnline);
      window.removeEventListener("offline", this.onOffline);
    }
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = null;
      s.onmessage = null;
      s.close(1000);
    }
    this.state.update({ status: "closed", retryAt: null });
  }

  /** For tests and the e2e: drop the connection as a network failure would. */
  simulateDrop(): void {
    const s = this.socket;
    if (s) s.close(4000);
  }

  private connect(): void {
    if (this.closed) return;
    this.state.update({ status: this.everOpen || this.state.get().attempt > 0 ? "reconnecting" : "connecting", retryAt: null });
    let socket: WebSocketLike;
    try {
      socket = this.createSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.lastMessageAt = this.now();
      this.seq.onOpen();
    };
    socket.onmessage = (ev) => this.onMessage(ev.data);
    socket.onerror = () => undefined; // onclose follows and decides
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = null;
      const reason = CLOSE_REASONS[ev.code];
      if (reason) {
        this.state.update({ status: "denied", deniedReason: reason, retryAt: null, peers: [] });
        return;
      }
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    const attempt = this.state.get().attempt;
    const delay = backoffDelay(attempt);
    const offline = typeof navigator !== "undefined" && navigator.onLine === false;
    this.state.update({
      status: offline ? "offline" : "reconnecting",
      attempt: attempt + 1,
      retryAt: Date.now() + delay,
      peers: [],
    });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private onMessage(data: unknown): void {
    this.lastMessageAt = this.now();
    if (typeof data !== "string") return;
    let msg: ServerMessage;
    try {
      msg = JSON.parse(data) as ServerMessage;
    } catch {
      return;
    }
    if (!msg || typeof msg !== "object" || typeof msg.type !== "string") return;
    const action = this.seq.accept(msg);
    let reconnect = false;
    if (msg.type === "hello") {
      reconnect = this.everOpen;
      this.everOpen = true;
      this.onHello(msg.user);
    }
    switch (action.kind) {
      case "drop":
        return;
      case "resume":
        this.send({ type: "resume", last_seq: action.lastSeq });
        return;
      case "resync":
        for (const l of [...this.resyncListeners]) l();
        this.reconnected();
        return;
      case "deliver":
        break;
    }
    if ((msg.type === "hello" && reconnect) || msg.type === "resumed") this.reconnected();
    if (msg.type === "presence") this.onPresence(msg);
    for (const l of [...this.listeners]) l(msg);
  }

  private onHello(me: RoomUser): void {
    this.state.update({ status: "open", attempt: 0, retryAt: null, me, deniedReason: null });
    if (this.presence) this.send({ type: "presence", ...this.presence });
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.heartbeat(), PING_MS);
  }

  private reconnected(): void {
    for (const l of [...this.openListeners]) l();
  }

  private heartbeat(): void {
    if (!this.socket) return;
    if (this.now() - this.lastMessageAt > DEAD_MS) {
      // No answer to two pings: the connection is dead even if the browser has not noticed.
      this.socket.close(4000);
      return;
    }
    this.send({ type: "ping" });
    if (this.presence) this.send({ type: "presence", ...this.presence });
    const cutoff = this.now() - PRESENCE_TTL_MS;
    const peers = this.state.get().peers.filter((p) => p.at >= cutoff);
    if (peers.length !== this.state.get().peers.length) this.state.update({ peers });
  }

  private onPresence(msg: PresenceEvent): void {
    const me = this.state.get().me;
    if (me && msg.user.id === me.id) return;
    const peer: Peer = { user: msg.user, slice: msg.slice, frameId: msg.frame_id ?? null, at: this.now() };
    const peers = this.state.get().peers.filter((p) => p.user.id !== msg.user.id);
    peers.push(peer);
    peers.sort((a, b) => a.user.username.localeCompare(b.user.username));
    this.state.update({ peers });
  }
}
