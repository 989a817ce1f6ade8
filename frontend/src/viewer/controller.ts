/**
 * The viewer's engine, independent of the UI framework: slices, window/level, viewport, AI prompts and
 * proposals, propagation, label-map editing and history. Components read `state` (a Store) and call methods.
 *
 * Rendering: the windowed slice and the mask overlay live in image-resolution offscreen canvases; the
 * visible canvas composites them under the viewport transform and draws prompts/cursor on top. Work is
 * batched per animation frame, except a model proposal, which is painted synchronously on arrival.
 */

import { api, toApiError } from "../api/client";
import { PROMPT_ERRORS, type PropagationHandle, type SegmentationTransport } from "../api/segmentation";
import type { FramePixels, PromptRequest, SeriesDetail } from "../api/types";
import type { Label } from "../labels";
import type { EditSource } from "./saveState";
import { notify, notifyError } from "../state/notify";
import { Store } from "../state/store";
import {
  type Vec2,
  type Vec3,
  type Viewport,
  fitViewport,
  imageToScreen,
  normalizeBox,
  pan,
  pixelAspect,
  pixelAt,
  pixelToPatient,
  planeGeometry,
  screenToImage,
  zoomAt,
  zoomPercent,
} from "./geometry";
import { UndoStack, diffFrame, type FrameDiff } from "./history";
import { LabelVolume } from "./labelVolume";
import { type FetchSlice, SliceLoader } from "./loader";
import { fillHoles, maskBounds, mergeMask, paintStroke, type Rect, unionRect } from "./masks";
import { type LabelStyle, PROPOSAL_COLOR, labelPalette, renderOverlay } from "./overlay";
import { decodeBinary } from "./rle";
import { DEFAULT_CACHE_BYTES } from "./sliceCache";
import {
  CT_PRESETS,
  type WindowLevel,
  type WindowPreset,
  buildLut16,
  dragWindow,
  renderWindowed,
  valueRange,
  windowForRange,
} from "./windowing";

export type Tool = "pan" | "window" | "zoom" | "box" | "point" | "brush" | "eraser";

export interface ProposalInfo {
  kind: "prompt" | "propagation";
  /** Slices the proposal covers, ascending. */
  slices: number[];
  /** Candidates on the slice shown (multimask), with scores. */
  scores: number[];
  selected: number;
  onCurrent: boolean;
  model: string;
}

export interface PropagationInfo {
  status: "idle" | "starting" | "running" | "done" | "failed" | "cancelled";
  done: number;
  total: number;
  z0: number;
  z1: number;
  message: string;
}

export interface ViewerState {
  phase: "loading" | "ready" | "error";
  error: string | null;
  z: number;
  count: number;
  rows: number;
  cols: number;
  modality: string;
  samples: 1 | 3;
  window: WindowLevel;
  windowName: string | null;
  presets: WindowPreset[];
  zoomPct: number;
  tool: Tool;
  brushSize: number;
  pointLabel: 0 | 1;
  multimask: boolean;
  activeLabel: number;
  labelStyles: Record<number, LabelStyle>;
  loaded: number;
  loadedVersion: number;
  cacheBytes: number;
  sliceReady: boolean;
  sliceFailed: boolean;
  promptPending: boolean;
  promptSlow: boolean;
  hasPrompt: boolean;
  proposal: ProposalInfo | null;
  /** ms from the proposal's arrival to its pixels on the canvas. */
  proposalPaintMs: number | null;
  propagation: PropagationInfo;
  canUndo: boolean;
  canRedo: boolean;
  undoName: string | null;
  redoName: string | null;
  annotated: number[];
  helpOpen: boolean;
  /** Why editing is off right now (viewing another reader's work, a submitted read...); null: editable. */
  editBlocked: string | null;
}

export interface CursorInfo {
  col: number;
  row: number;
  value: string | null;
  mm: Vec3 | null;
}

interface CandidateSet {
  frameId: number;
  candidates: Uint8Array[];
  scores: number[];
  selected: number;
}

interface ProposalSet {
  kind: "prompt" | "propagation";
  model: string;
  slices: Map<number, CandidateSet>;
}

interface PromptPoint {
  x: number;
  y: number;
  label: 0 | 1;
}

interface PromptState {
  z: number;
  box: [number, number, number, number] | null;
  points: PromptPoint[];
}

type Drag =
  | { kind: "pan"; last: Vec2 }
  | { kind: "window"; last: Vec2 }
  | { kind: "zoom"; last: Vec2; anchor: Vec2 }
  | { kind: "box"; a: Vec2; b: Vec2 }
  | { kind: "point"; at: Vec2; screen: Vec2; negative: boolean }
  | { kind: "brush"; mode: "paint" | "erase"; z: number; last: Vec2; before: Uint8Array; rect: Rect | null };

export interface ViewerOptions {
  slug: string;
  series: SeriesDetail;
  schema: readonly Label[];
  transport: SegmentationTransport;
  fetchSlice?: FetchSlice;
  cacheBytes?: number;
  /** Every change to the label maps, with the frames it touched and what made it. */
  onEdit?: (frames: number[], source: EditSource | "mixed") => void;
  /** The slice shown changed (presence). */
  onSliceChange?: (z: number, frameId: number) => void;
}

/** Timings the bench and the e2e read (ms). */
export interface ViewerStats {
  /** Main-thread time of the last renderNow calls (a ring of 512). */
  renders: number[];
  /** From the prompt's gesture (pointer up / click) to the proposal on the canvas. */
  promptToPaint: number[];
}

export const NO_LABELS = "This project has no labels yet: an owner adds them in the project settings.";
export const BRUSH_MIN = 1;
export const BRUSH_MAX = 120;
const BACKGROUND = "#000000";
const WHEEL_STEP = 50;

export class ViewerController {
  readonly state: Store<ViewerState>;
  readonly cursor = new Store<CursorInfo | null>(null);
  readonly labels: LabelVolume;
  readonly history = new UndoStack();
  readonly loader: SliceLoader;

  private readonly slug: string;
  private readonly series: SeriesDetail;
  private readonly schema: readonly Label[];
  private readonly transport: SegmentationTransport;
  private readonly aspect: { ax: number; ay: number };

  private canvas: HTMLCanvasElement | null = null;
  private ctx: CanvasRenderingContext2D | null = null;
  private resizeObserver: ResizeObserver | null = null;
  private readonly imageCanvas: HTMLCanvasElement | OffscreenCanvas;
  private readonly overlayCanvas: HTMLCanvasElement | OffscreenCanvas;
  private readonly imageData: ImageData;
  private readonly overlayData: ImageData;
  private imageKey = "";
  private overlayKey = "";
  private overlayVisible = false;
  private lut: { key: string; table: Uint32Array } | null = null;

  private viewport: Viewport = { sx: 1, sy: 1, tx: 0, ty: 0 };
  private fitted = true;
  private viewW = 0;
  private viewH = 0;
  private frameRequested = 0;
  private drag: Drag | null = null;
  private hover: Vec2 | null = null;
  private wheelAccum = 0;
  private windowInitialised = false;

  private prompt: PromptState | null = null;
  private promptSeq = 0;
  private promptAbort: AbortController | null = null;
  private proposalSet: ProposalSet | null = null;
  private propagation: PropagationHandle | null = null;
  private disposed = false;
  private readonly unbind: Array<() => void> = [];
  private readonly onEdit: ViewerOptions["onEdit"];
  private readonly onSliceChange: ViewerOptions["onSliceChange"];
  private promptStartedAt = 0;
  readonly stats: ViewerStats = { renders: [], promptToPaint: [] };

  constructor(opts: ViewerOptions) {
    this.slug = opts.slug;
    this.series = opts.series;
    this.schema = opts.schema;
    this.transport = opts.transport;
    this.onEdit = opts.onEdit;
    this.onSliceChange = opts.onSliceChange;
    const rows = opts.series.rows ?? 0;
    const cols = opts.series.columns ?? 0;
    const count = opts.series.frames.length;
    this.aspect = pixelAspect(opts.series.pixel_spacing);
    this.labels = new LabelVolume(rows, cols, count);
    this.imageCanvas = makeCanvas(cols, rows);
    this.overlayCanvas = makeCanvas(cols, rows);
    this.imageData = new ImageData(Math.max(1, cols), Math.max(1, rows));
    this.overlayData = new ImageData(Math.max(1, cols), Math.max(1, rows));
    const styles: Record<number, LabelStyle> = {};
    for (const l of opts.schema) styles[l.id] = { visible: true, opacity: 0.45 };
    const modality = opts.series.modality || "";
    const start = Math.floor((count - 1) / 2);
    this.state = new Store<ViewerState>({
      phase: count > 0 && rows > 0 && cols > 0 ? "loading" : "error",
      error: count > 0 ? null : "This series has no slices.",
      z: Math.max(0, start),
      count,
      rows,
      cols,
      modality,
      samples: 1,
      window: { center: 40, width: 400 },
      windowName: null,
      presets: modality === "CT" ? [...CT_PRESETS] : [],
      zoomPct: 100,
      tool: "box",
      brushSize: 12,
      pointLabel: 1,
      multimask: false,
      activeLabel: opts.schema[0]?.id ?? 1,
      labelStyles: styles,
      loaded: 0,
      loadedVersion: 0,
      cacheBytes: 0,
      sliceReady: false,
      sliceFailed: false,
      promptPending: false,
      promptSlow: false,
      hasPrompt: false,
      proposal: null,
      proposalPaintMs: null,
      // A lesion spans a few slices: propagate over the ten around the start by default.
      propagation: {
        status: "idle",
        done: 0,
        total: 0,
        z0: Math.max(0, start - 5),
        z1: Math.max(0, Math.min(count - 1, start + 5)),
        message: "",
      },
      canUndo: false,
      canRedo: false,
      undoName: null,
      redoName: null,
      annotated: [],
      helpOpen: false,
      editBlocked: opts.schema.length === 0 ? NO_LABELS : null,
    });
    const sources = opts.series.frames.map((f) => ({ instanceId: f.instance_id, frameIndex: f.frame_index }));
    const fetchSlice: FetchSlice =
      opts.fetchSlice ?? ((s, signal) => api.imaging.framePixels(this.slug, s.instanceId, s.frameIndex, signal));
    this.loader = new SliceLoader(
      sources,
      fetchSlice,
      {
        loaded: (z, px) => this.onSliceLoaded(z, px),
        evicted: () => this.onCacheChanged(),
        failed: (z, message) => {
          if (z === this.state.get().z) {
            this.state.update({ sliceFailed: true });
            notify("error", `Slice ${z + 1} could not be loaded: ${message}`);
          }
        },
      },
      opts.cacheBytes ?? DEFAULT_CACHE_BYTES,
    );
    if (count > 0) this.loader.setCurrent(this.state.get().z);
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  attach(canvas: HTMLCanvasElement): void {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    const on = <K extends keyof HTMLElementEventMap>(
      target: HTMLElement,
      type: K,
      fn: (e: HTMLElementEventMap[K]) => void,
      opts?: AddEventListenerOptions,
    ) => {
      target.addEventListener(type, fn as EventListener, opts);
      this.unbind.push(() => target.removeEventListener(type, fn as EventListener, opts));
    };
    on(canvas, "pointerdown", (e) => this.onPointerDown(e));
    on(canvas, "pointermove", (e) => this.onPointerMove(e));
    on(canvas, "pointerup", (e) => this.onPointerUp(e));
    on(canvas, "pointercancel", () => this.cancelDrag());
    on(canvas, "pointerleave", () => {
      this.hover = null;
      this.cursor.set(null);
      this.requestRender();
    });
    on(canvas, "wheel", (e) => this.onWheel(e), { passive: false });
    on(canvas, "contextmenu", (e) => e.preventDefault());
    this.resizeObserver = new ResizeObserver(() => this.onResize());
    this.resizeObserver.observe(canvas);
    this.onResize();
  }

  dispose(): void {
    this.disposed = true;
    for (const u of this.unbind.splice(0)) u();
    this.resizeObserver?.disconnect();
    this.promptAbort?.abort();
    if (this.frameRequested) cancelAnimationFrame(this.frameRequested);
    this.loader.dispose();
    const running = this.state.get().propagation.status;
    if (this.propagation && (running === "running" || running === "starting")) {
      this.propagation.cancel().catch(() => undefined);
    }
    this.transport.close();
  }

  // ---- slices ----------------------------------------------------------------------------------

  setSlice(z: number): void {
    const s = this.state.get();
    const next = Math.max(0, Math.min(s.count - 1, Math.round(z)));
    if (next === s.z) return;
    this.loader.setCurrent(next);
    this.state.update({
      z: next,
      sliceReady: this.loader.get(next) !== undefined,
      sliceFailed: this.loader.isFailed(next),
      proposal: this.proposalInfo(next),
      cacheBytes: this.loader.cache.bytes,
      loaded: this.loader.cache.size,
    });
    this.updateCursor();
    this.requestRender();
    const frame = this.series.frames[next];
    if (frame) this.onSliceChange?.(next, frame.id);
  }

  step(delta: number): void {
    this.setSlice(this.state.get().z + delta);
  }

  retrySlice(): void {
    this.state.update({ sliceFailed: false });
    this.loader.retry(this.state.get().z);
  }

  private onSliceLoaded(z: number, px: FramePixels): void {
    if (this.disposed) return;
    const s = this.state.get();
    if (!this.windowInitialised) this.initWindow(px);
    const patch: Partial<ViewerState> = {
      loaded: this.loader.cache.size,
      loadedVersion: s.loadedVersion + 1,
      cacheBytes: this.loader.cache.bytes,
    };
    if (z === s.z) {
      patch.sliceReady = true;
      patch.sliceFailed = false;
      patch.phase = "ready";
      this.requestRender();
    }
    this.state.update(patch);
    if (z === this.state.get().z) this.updateCursor();
  }

  private onCacheChanged(): void {
    const s = this.state.get();
    this.state.update({
      loaded: this.loader.cache.size,
      loadedVersion: s.loadedVersion + 1,
      cacheBytes: this.loader.cache.bytes,
    });
  }

  private initWindow(px: FramePixels): void {
    this.windowInitialised = true;
    const filePresets: WindowPreset[] = px.presets
      .filter((p) => Number.isFinite(p.center) && Number.isFinite(p.width) && p.width > 0)
      .slice(0, 5)
      .map((p, i) => ({
        name: p.explanation?.trim() || `File preset ${i + 1}`,
        center: p.center,
        width: p.width,
        key: String(5 + i),
      }));
    const isCt = (px.modality || this.state.get().modality) === "CT";
    const presets = [...(isCt ? CT_PRESETS : []), ...filePresets];
    let initial: WindowPreset;
    if (px.samples === 3) {
      initial = { name: "Full range", center: 128, width: 256 };
    } else if (filePresets[0]) {
      initial = filePresets[0];
    } else if (isCt) {
      initial = CT_PRESETS[0]!;
    } else {
      const r = valueRange(px.data);
      initial = { name: "Full range", ...windowForRange(r.min, r.max) };
    }
    this.state.update({
      presets,
      samples: px.samples,
      modality: px.modality || this.state.get().modality,
      window: { center: initial.center, width: initial.width },
      windowName: initial.name,
    });
  }

  // ---- window / viewport -----------------------------------------------------------------------

  setWindow(wl: WindowLevel, name: string | null = null): void {
    this.state.update({ window: { center: round1(wl.center), width: Math.max(1, round1(wl.width)) }, windowName: name });
    this.requestRender();
  }

  applyPreset(preset: WindowPreset): void {
    this.setWindow(preset, preset.name);
  }

  /** Full-range window of the current slice (the "auto" button). */
  autoWindow(): void {
    const px = this.loader.get(this.state.get().z);
    if (!px) return;
    const r = valueRange(px.data);
    this.setWindow(windowForRange(r.min, r.max), "Full range");
  }

  fit(): void {
    this.fitted = true;
    this.applyFit();
  }

  zoomBy(factor: number, anchor?: Vec2): void {
    const at = anchor ?? { x: this.viewW / 2, y: this.viewH / 2 };
    this.setViewport(zoomAt(this.viewport, factor, at, this.aspect));
  }

  private setViewport(v: Viewport): void {
    this.viewport = v;
    this.fitted = false;
    this.state.update({ zoomPct: Math.round(zoomPercent(v, this.aspect)) });
    this.requestRender();
  }

  private applyFit(): void {
    const s = this.state.get();
    if (!this.viewW || !this.viewH) return;
    this.viewport = fitViewport(s.cols, s.rows, this.viewW, this.viewH, this.aspect, 12);
    this.state.update({ zoomPct: Math.round(zoomPercent(this.viewport, this.aspect)) });
    this.requestRender();
  }

  private onResize(): void {
    const c = this.canvas;
    if (!c) return;
    const rect = c.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const oldW = this.viewW;
    const oldH = this.viewH;
    this.viewW = rect.width;
    this.viewH = rect.height;
    c.width = Math.max(1, Math.round(rect.width * dpr));
    c.height = Math.max(1, Math.round(rect.height * dpr));
    if (this.fitted || !oldW) this.applyFit();
    else this.viewport = pan(this.viewport, (this.viewW - oldW) / 2, (this.viewH - oldH) / 2);
    this.renderNow();
  }

  // ---- tools and settings ----------------------------------------------------------------------

  setTool(tool: Tool): void {
    this.cancelDrag();
    this.state.update({ tool });
    this.requestRender();
  }

  setBrushSize(size: number): void {
    this.state.update({ brushSize: Math.max(BRUSH_MIN, Math.min(BRUSH_MAX, Math.round(size))) });
    this.requestRender();
  }

  setPointLabel(label: 0 | 1): void {
    this.state.update({ pointLabel: label });
  }

  setMultimask(on: boolean): void {
    this.state.update({ multimask: on });
  }

  setActiveLabel(id: number): void {
    this.state.update({ activeLabel: id });
  }

  setLabelStyle(id: number, patch: Partial<LabelStyle>): void {
    const styles = this.state.get().labelStyles;
    const current = styles[id] ?? { visible: true, opacity: 0.45 };
    this.state.update({ labelStyles: { ...styles, [id]: { ...current, ...patch } } });
    this.requestRender();
  }

  schemaLabels(): readonly Label[] {
    return this.schema;
  }

  /** Which slices are in memory (for the slice bar's strip). */
  cachedSlices(): number[] {
    return this.loader.cache.keys();
  }

  toggleHelp(open?: boolean): void {
    this.state.update({ helpOpen: open ?? !this.state.get().helpOpen });
  }

  // ---- AI prompts and proposals ----------------------------------------------------------------

  private currentFrameId(z: number): number {
    return this.series.frames[z]!.id;
  }

  private async sendPrompt(): Promise<void> {
    const ps = this.prompt;
    if (!ps) return;
    const s = this.state.get();
    const request: PromptRequest = { multimask: s.multimask, label_id: s.activeLabel };
    if (ps.box) request.box = ps.box;
    if (ps.points.length) {
      request.points = ps.points.map((p) => [round2(p.x), round2(p.y)]);
      request.point_labels = ps.points.map((p) => p.label);
    }
    const seq = ++this.promptSeq;
    this.promptAbort?.abort();
    const ctrl = new AbortController();
    this.promptAbort = ctrl;
    this.state.update({ promptPending: true, promptSlow: false });
    const slowTimer = setTimeout(() => {
      if (seq === this.promptSeq) this.state.update({ promptSlow: true });
    }, 1200);
    try {
      const proposal = await this.transport.prompt(this.currentFrameId(ps.z), request, ctrl.signal);
      if (seq !== this.promptSeq || this.disposed) return;
      const arrived = performance.now();
      const candidates = proposal.masks.map((m) => decodeBinary(m));
      if (candidates.length === 0) {
        notify("info", "The model found nothing there. Try a tighter box or another click.");
        return;
      }
      const best = Math.min(Math.max(0, proposal.best ?? 0), candidates.length - 1);
      this.proposalSet = {
        kind: "prompt",
        model: proposal.model,
        slices: new Map([[ps.z, { frameId: proposal.frame_id, candidates, scores: proposal.scores, selected: best }]]),
      };
      this.invalidateOverlay();
      // Paint now, inside this task: the proposal is on screen at the next compositor frame.
      this.renderNow();
      const painted = performance.now();
      const paintMs = painted - arrived;
      this.canvas?.setAttribute("data-proposal-paint-ms", paintMs.toFixed(1));
      if (this.promptStartedAt) {
        const total = painted - this.promptStartedAt;
        pushRing(this.stats.promptToPaint, total);
        this.canvas?.setAttribute("data-prompt-to-paint-ms", total.toFixed(1));
      }
      this.state.update({ proposal: this.proposalInfo(this.state.get().z), proposalPaintMs: paintMs });
    } catch (err) {
      if (seq !== this.promptSeq) return;
      const e = toApiError(err);
      if (e.isAbort) return;
      notify("error", PROMPT_ERRORS[e.code] ?? `Segmentation failed: ${e.message}`);
    } finally {
      clearTimeout(slowTimer);
      if (seq === this.promptSeq) this.state.update({ promptPending: false, promptSlow: false });
    }
  }

  private promptFor(z: number): PromptState {
    if (!this.prompt || this.prompt.z !== z) {
      this.prompt = { z, box: null, points: [] };
    }
    return this.prompt;
  }

  /** Clear the prompt (box, clicks) and any proposal. */
  rejectProposal(): void {
    this.promptSeq++;
    this.promptAbort?.abort();
    this.prompt = null;
    this.proposalSet = null;
    this.invalidateOverlay();
    this.state.update({ proposal: null, hasPrompt: false, promptPending: false, promptSlow: false });
    const prop = this.state.get().propagation;
    if (prop.status === "done") this.state.update({ propagation: { ...prop, status: "idle", message: "" } });
    this.requestRender();
  }

  selectCandidate(index: number): void {
    const z = this.state.get().z;
    const set = this.proposalSet?.slices.get(z);
    if (!set || index < 0 || index >= set.candidates.length) return;
    set.selected = index;
    this.invalidateOverlay();
    this.state.update({ proposal: this.proposalInfo(z) });
    this.requestRender();
  }

  cycleCandidate(): void {
    const z = this.state.get().z;
    const set = this.proposalSet?.slices.get(z);
    if (set && set.candidates.length > 1) this.selectCandidate((set.selected + 1) % set.candidates.length);
  }

  /** Write the proposal (every slice it covers) into the active label, as one undoable step. */
  acceptProposal(): void {
    const set = this.proposalSet;
    if (!set) return;
    const blocked = this.state.get().editBlocked;
    if (blocked) {
      notify("info", blocked, 3500);
      return;
    }
    const label = this.state.get().activeLabel;
    const diffs: FrameDiff[] = [];
    for (const [z, c] of set.slices) {
      const mask = c.candidates[c.selected];
      if (!mask) continue;
      const map = this.labels.frame(z);
      const before = map.slice();
      if (mergeMask(map, mask, label, "add")) {
        const d = diffFrame(z, before, map, this.labels.cols);
        if (d) diffs.push(d);
      }
    }
    const name = set.kind === "propagation" ? "Accept propagation" : "Accept proposal";
    this.proposalSet = null;
    this.prompt = null;
    this.state.update({ proposal: null, hasPrompt: false });
    const prop = this.state.get().propagation;
    if (prop.status === "done") this.state.update({ propagation: { ...prop, status: "idle", message: "" } });
    if (diffs.length) {
      this.history.push({ name, diffs });
      this.labelsChanged(
        diffs.map((d) => d.frame),
        set.kind === "propagation" ? "propagation" : "model",
      );
      if (set.kind === "propagation") notify("success", `Accepted on ${diffs.length} slices.`, 2500);
    } else {
      this.requestRender();
    }
  }

  private proposalInfo(z: number): ProposalInfo | null {
    const set = this.proposalSet;
    if (!set) return null;
    const slices = [...set.slices.keys()].sort((a, b) => a - b);
    const here = set.slices.get(z);
    return {
      kind: set.kind,
      slices,
      scores: here?.scores ?? [],
      selected: here?.selected ?? 0,
      onCurrent: here !== undefined,
      model: set.model,
    };
  }

  // ---- propagation -----------------------------------------------------------------------------

  setPropagationRange(z0: number, z1: number): void {
    const s = this.state.get();
    const a = clampInt(Math.min(z0, z1), 0, s.count - 1);
    const b = clampInt(Math.max(z0, z1), 0, s.count - 1);
    this.state.update({ propagation: { ...s.propagation, z0: a, z1: b } });
  }

  /** The 2D box to propagate: the prompt box, else the proposal's or the active label's extent here. */
  propagationBox(): [number, number, number, number] | null {
    const s = this.state.get();
    if (this.prompt?.box) return this.prompt.box;
    const set = this.proposalSet?.slices.get(s.z);
    const fromMask = (m: Uint8Array | undefined) => (m ? maskBounds(m, s.cols, s.rows) : null);
    const prop = fromMask(set?.candidates[set.selected]);
    if (prop) return prop;
    const map = this.labels.peek(s.z);
    if (map) {
      const only = map.map((v) => (v === s.activeLabel ? 1 : 0));
      return fromMask(only);
    }
    return null;
  }

  startPropagation(): void {
    const s = this.state.get();
    const cur = s.propagation;
    if (cur.status === "running" || cur.status === "starting") return;
    const box = this.propagationBox();
    if (!box) {
      notify("error", "Draw a box (A) around the structure first; propagation starts from it.");
      return;
    }
    const z0 = Math.min(cur.z0, cur.z1);
    const z1 = Math.max(cur.z0, cur.z1);
    const start = this.prompt?.box ? this.prompt.z : s.z;
    const total = z1 - z0 + 1;
    this.state.update({ propagation: { ...cur, status: "starting", done: 0, total, message: "" } });
    const options: { startSlice?: number; labelId?: number; onProgress: (p: { done: number; total: number }) => void } =
      {
        labelId: s.activeLabel,
        onProgress: (p) => {
          if (this.disposed) return;
          const now = this.state.get().propagation;
          if (now.status !== "starting" && now.status !== "running") return;
          this.state.update({ propagation: { ...now, status: "running", done: p.done, total: p.total || total } });
        },
      };
    if (start >= z0 && start <= z1) options.startSlice = start;
    const handle = this.transport.propagate(this.series.id, [box[0], box[1], z0, box[2], box[3], z1], options);
    this.propagation = handle;
    handle.result.then(
      (job) => {
        if (this.disposed || this.propagation !== handle) return;
        const now = this.state.get().propagation;
        if (job.status === "cancelled") {
          this.state.update({ propagation: { ...now, status: "cancelled", message: "Propagation cancelled." } });
          return;
        }
        const slices = new Map<number, CandidateSet>();
        for (const [key, value] of Object.entries(job.result.slices ?? {})) {
          const z = Number(key);
          if (!Number.isInteger(z) || z < 0 || z >= s.count) continue;
          slices.set(z, {
            frameId: value.frame_id,
            candidates: [decodeBinary(value.mask)],
            scores: [value.score],
            selected: 0,
          });
        }
        const n = slices.size;
        this.proposalSet = { kind: "propagation", model: job.model, slices };
        this.invalidateOverlay();
        this.renderNow();
        this.state.update({
          proposal: this.proposalInfo(this.state.get().z),
          propagation: {
            ...now,
            status: "done",
            done: job.total,
            total: job.total,
            message: n ? `Proposed on ${n} slice${n === 1 ? "" : "s"}: review, then accept or reject.` : "The structure was not found on any slice.",
          },
        });
      },
      (err: unknown) => {
        if (this.disposed || this.propagation !== handle) return;
        const e = toApiError(err);
        const now = this.state.get().propagation;
        const message = PROMPT_ERRORS[e.code] ?? e.message;
        this.state.update({ propagation: { ...now, status: "failed", message } });
        notifyError(e, "Propagation");
      },
    );
  }

  cancelPropagation(): void {
    const handle = this.propagation;
    const now = this.state.get().propagation;
    if (!handle || (now.status !== "running" && now.status !== "starting")) return;
    this.state.update({ propagation: { ...now, message: "Cancelling…" } });
    handle.cancel().catch((err: unknown) => notifyError(err, "Cancel"));
  }

  // ---- editing ---------------------------------------------------------------------------------

  fillHolesOnSlice(): void {
    const s = this.state.get();
    if (s.editBlocked) {
      notify("info", s.editBlocked, 3500);
      return;
    }
    const map = this.labels.peek(s.z);
    if (!map) {
      notify("info", "Nothing to fill on this slice.");
      return;
    }
    const before = map.slice();
    const rect = fillHoles(map, s.cols, s.rows, s.activeLabel);
    const diff = rect ? diffFrame(s.z, before, map, s.cols, rect) : null;
    if (!diff) {
      notify("info", "No holes to fill on this slice.", 2500);
      return;
    }
    this.history.push({ name: "Fill holes", diffs: [diff] });
    this.labelsChanged([s.z], "brush");
  }

  undo(): void {
    if (this.state.get().editBlocked) return;
    const entry = this.history.undo(this.labels);
    if (entry) this.afterHistory(entry.diffs.map((d) => d.frame));
  }

  redo(): void {
    if (this.state.get().editBlocked) return;
    const entry = this.history.redo(this.labels);
    if (entry) this.afterHistory(entry.diffs.map((d) => d.frame));
  }

  private afterHistory(frames: number[]): void {
    // Show the change: if it happened on other slices only, go to the nearest of them.
    const z = this.state.get().z;
    if (frames.length && !frames.includes(z)) {
      const nearest = frames.reduce((a, b) => (Math.abs(b - z) < Math.abs(a - z) ? b : a));
      this.setSlice(nearest);
    }
    this.labelsChanged(frames, "mixed");
  }

  private labelsChanged(frames: number[], source: EditSource | "mixed" | null): void {
    this.labels.touched(frames);
    if (source) this.onEdit?.(frames, source);
    this.invalidateOverlay();
    this.state.update({
      canUndo: this.history.canUndo,
      canRedo: this.history.canRedo,
      undoName: this.history.undoName,
      redoName: this.history.redoName,
      annotated: this.labels.annotatedFrames(),
    });
    this.requestRender();
  }

  // ---- the saved annotation ---------------------------------------------------------------------

  /** Turn editing off (with the reason shown when someone tries) or back on. */
  setEditBlocked(reason: string | null): void {
    const effective = reason ?? (this.schema.length === 0 ? NO_LABELS : null);
    if (effective) this.cancelDrag();
    this.state.update({ editBlocked: effective });
  }

  /** Put label maps loaded from the server (not edits: no history, not unsaved). */
  loadFrames(entries: Iterable<[number, Uint8Array | null]>): void {
    const frames: number[] = [];
    for (const [z, map] of entries) {
      if (this.drag?.kind === "brush" && this.drag.z === z) this.cancelDrag();
      this.labels.replace(z, map);
      frames.push(z);
    }
    if (frames.length) this.labelsChanged(frames, null);
  }

  /** Forget undo/redo (after the maps were replaced wholesale, the diffs no longer apply). */
  resetHistory(): void {
    this.history.clear();
    this.labelsChanged([], null);
  }

  frameIdOf(z: number): number | undefined {
    return this.series.frames[z]?.id;
  }

  zOfFrame(frameId: number): number | undefined {
    const i = this.series.frames.findIndex((f) => f.id === frameId);
    return i >= 0 ? i : undefined;
  }

  // ---- keyboard --------------------------------------------------------------------------------

  /** Returns true when the key was handled (the caller then prevents the default). */
  handleKey(e: KeyboardEvent): boolean {
    const s = this.state.get();
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key;
    if (mod && !e.altKey) {
      const k = key.toLowerCase();
      if (k === "z" && e.shiftKey) return this.run(() => this.redo());
      if (k === "z") return this.run(() => this.undo());
      if (k === "y") return this.run(() => this.redo());
      if (key === "=" || key === "+") return this.run(() => this.zoomBy(1.25));
      if (key === "-") return this.run(() => this.zoomBy(0.8));
      return false;
    }
    if (e.altKey) return false;
    if (s.helpOpen && (key === "Escape" || key === "?")) return this.run(() => this.toggleHelp(false));
    switch (key) {
      case "ArrowUp":
      case "ArrowLeft":
        return this.run(() => this.step(-1));
      case "ArrowDown":
      case "ArrowRight":
        return this.run(() => this.step(1));
      case "PageUp":
        return this.run(() => this.step(-10));
      case "PageDown":
        return this.run(() => this.step(10));
      case "Home":
        return this.run(() => this.setSlice(0));
      case "End":
        return this.run(() => this.setSlice(s.count - 1));
      case "+":
      case "=":
        return this.run(() => this.zoomBy(1.25));
      case "-":
      case "_":
        return this.run(() => this.zoomBy(0.8));
      case "Enter":
        return s.proposal ? this.run(() => this.acceptProposal()) : false;
      case "Escape":
        if (this.drag) return this.run(() => this.cancelDrag());
        return this.run(() => this.rejectProposal());
      case "?":
        return this.run(() => this.toggleHelp());
      case "[":
        return this.run(() => this.setBrushSize(s.brushSize - Math.max(1, Math.round(s.brushSize * 0.15))));
      case "]":
        return this.run(() => this.setBrushSize(s.brushSize + Math.max(1, Math.round(s.brushSize * 0.15))));
    }
    if (/^[1-9]$/.test(key)) {
      const preset = s.presets.find((p) => p.key === key);
      return preset ? this.run(() => this.applyPreset(preset)) : false;
    }
    switch (key.toLowerCase()) {
      case "f":
        return this.run(() => this.fit());
      case "v":
        return this.run(() => this.setTool("pan"));
      case "w":
        return this.run(() => this.setTool("window"));
      case "z":
        return this.run(() => this.setTool("zoom"));
      case "a":
        return this.run(() => this.setTool("box"));
      case "s":
        return this.run(() => this.setTool("point"));
      case "n":
        return this.run(() => this.setPointLabel(s.pointLabel === 1 ? 0 : 1));
      case "m":
        return this.run(() => this.cycleCandidate());
      case "b":
        return this.run(() => this.setTool("brush"));
      case "e":
        return this.run(() => this.setTool("eraser"));
      case "h":
        return this.run(() => this.fillHolesOnSlice());
      case "l": {
        const style = s.labelStyles[s.activeLabel];
        return this.run(() => this.setLabelStyle(s.activeLabel, { visible: !(style?.visible ?? true) }));
      }
    }
    return false;
  }

  private run(fn: () => void): true {
    fn();
    return true;
  }

  // ---- pointer ---------------------------------------------------------------------------------

  private eventPoint(e: PointerEvent | WheelEvent): Vec2 {
    const rect = this.canvas!.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  }

  private onPointerDown(e: PointerEvent): void {
    if (!this.canvas) return;
    const s = this.state.get();
    const pt = this.eventPoint(e);
    const img = screenToImage(this.viewport, pt);
    this.canvas.focus({ preventScroll: true });
    if (e.button === 2) this.drag = { kind: "window", last: pt };
    else if (e.button === 1) this.drag = { kind: "pan", last: pt };
    else if (e.button === 0) {
      switch (s.tool) {
        case "pan":
          this.drag = { kind: "pan", last: pt };
          break;
        case "window":
          this.drag = { kind: "window", last: pt };
          break;
        case "zoom":
          this.drag = { kind: "zoom", last: pt, anchor: pt };
          break;
        case "box":
          this.drag = { kind: "box", a: img, b: img };
          break;
        case "point":
          this.drag = { kind: "point", at: img, screen: pt, negative: e.shiftKey || e.altKey };
          break;
        case "brush":
        case "eraser": {
          if (!s.sliceReady) return;
          if (s.editBlocked) {
            notify("info", s.editBlocked, 3500);
            return;
          }
          const map = this.labels.frame(s.z);
          const mode = s.tool === "brush" ? "paint" : "erase";
          const before = map.slice();
          const rect = paintStroke(map, s.cols, s.rows, img.x, img.y, img.x, img.y, s.brushSize / 2, s.activeLabel, mode);
          this.drag = { kind: "brush", mode, z: s.z, last: img, before, rect };
          this.invalidateOverlay();
          break;
        }
      }
    }
    if (this.drag) {
      e.preventDefault();
      this.canvas.setPointerCapture(e.pointerId);
      this.requestRender();
    }
  }

  private onPointerMove(e: PointerEvent): void {
    const pt = this.eventPoint(e);
    this.hover = pt;
    const d = this.drag;
    if (d) {
      const s = this.state.get();
      switch (d.kind) {
        case "pan":
          this.setViewport(pan(this.viewport, pt.x - d.last.x, pt.y - d.last.y));
          d.last = pt;
          break;
        case "window":
          this.setWindow(dragWindow(s.window, pt.x - d.last.x, pt.y - d.last.y));
          d.last = pt;
          break;
        case "zoom":
          this.zoomBy(Math.exp(-(pt.y - d.last.y) * 0.01), d.anchor);
          d.last = pt;
          break;
        case "box":
          d.b = screenToImage(this.viewport, pt);
          break;
        case "point":
          break;
        case "brush": {
          const img = screenToImage(this.viewport, pt);
          if (d.z !== s.z) break;
          const map = this.labels.frame(d.z);
          const r = paintStroke(
            map, s.cols, s.rows, d.last.x, d.last.y, img.x, img.y, s.brushSize / 2, s.activeLabel, d.mode,
          );
          d.rect = unionRect(d.rect, r);
          d.last = img;
          this.invalidateOverlay();
          break;
        }
      }
    }
    this.updateCursor();
    this.requestRender();
  }

  private onPointerUp(e: PointerEvent): void {
    const d = this.drag;
    this.drag = null;
    if (this.canvas?.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    if (!d) return;
    const s = this.state.get();
    switch (d.kind) {
      case "box": {
        const box = normalizeBox(d.a, d.b, s.cols, s.rows);
        const screenW = Math.abs(d.b.x - d.a.x) * this.viewport.sx;
        const screenH = Math.abs(d.b.y - d.a.y) * this.viewport.sy;
        if (screenW < 4 || screenH < 4 || box[2] - box[0] < 1 || box[3] - box[1] < 1) {
          notify("info", "Drag a box around the structure to segment it.", 2500);
          break;
        }
        this.prompt = { z: s.z, box, points: [] };
        this.state.update({ hasPrompt: true });
        this.promptStartedAt = performance.now();
        void this.sendPrompt();
        break;
      }
      case "point": {
        const moved = Math.hypot(this.eventPoint(e).x - d.screen.x, this.eventPoint(e).y - d.screen.y);
        if (moved > 5) break;
        if (!pixelAt(d.at, s.cols, s.rows)) {
          notify("info", "Click inside the image.", 2000);
          break;
        }
        const label: 0 | 1 = d.negative ? ((1 - s.pointLabel) as 0 | 1) : s.pointLabel;
        const ps = this.promptFor(s.z);
        ps.points.push({ x: d.at.x, y: d.at.y, label });
        this.state.update({ hasPrompt: true });
        this.promptStartedAt = performance.now();
        void this.sendPrompt();
        break;
      }
      case "brush": {
        const map = this.labels.frame(d.z);
        const diff = diffFrame(d.z, d.before, map, s.cols, d.rect);
        if (diff) {
          this.history.push({ name: d.mode === "paint" ? "Brush" : "Eraser", diffs: [diff] });
          this.labelsChanged([d.z], d.mode === "paint" ? "brush" : "eraser");
        }
        break;
      }
      default:
        break;
    }
    this.requestRender();
  }

  private cancelDrag(): void {
    const d = this.drag;
    this.drag = null;
    if (d?.kind === "brush") {
      // Restore the slice as it was before the stroke.
      this.labels.frame(d.z).set(d.before);
      this.invalidateOverlay();
    }
    this.requestRender();
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    const scale = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
    const dy = e.deltaY * scale;
    if (e.ctrlKey || e.metaKey) {
      this.zoomBy(Math.exp(-dy * 0.002), this.eventPoint(e));
      return;
    }
    // A mouse wheel notch (about 100 px, one event) is one slice; trackpads send many small deltas,
    // which add up to a slice every WHEEL_STEP px.
    if (Math.abs(dy) >= WHEEL_STEP) {
      this.wheelAccum = 0;
      this.step(Math.sign(dy));
      return;
    }
    this.wheelAccum += dy;
    if (Math.abs(this.wheelAccum) >= WHEEL_STEP) {
      this.step(Math.sign(this.wheelAccum));
      this.wheelAccum = 0;
    }
  }

  private updateCursor(): void {
    const s = this.state.get();
    if (!this.hover) return;
    const img = screenToImage(this.viewport, this.hover);
    const px = pixelAt(img, s.cols, s.rows);
    if (!px) {
      this.cursor.set(null);
      return;
    }
    const slice = this.loader.get(s.z);
    let value: string | null = null;
    if (slice) {
      const i = px.row * slice.columns + px.col;
      if (slice.samples === 3) {
        value = `RGB ${slice.data[i * 3]} ${slice.data[i * 3 + 1]} ${slice.data[i * 3 + 2]}`;
      } else {
        const v = slice.data[i]!;
        const text = Number.isInteger(v) ? String(v) : v.toFixed(2);
        value = s.modality === "CT" ? `${text} HU` : text;
      }
    }
    const frame = this.series.frames[s.z];
    const geometry = planeGeometry(
      frame?.image_position,
      this.series.image_orientation,
      this.series.pixel_spacing ?? slice?.pixelSpacing,
    );
    const mm = geometry ? pixelToPatient(geometry, px.col, px.row) : null;
    this.cursor.set({ col: px.col, row: px.row, value, mm });
  }

  // ---- rendering -------------------------------------------------------------------------------

  private invalidateOverlay(): void {
    this.overlayKey = "";
  }

  requestRender(): void {
    if (this.frameRequested || this.disposed) return;
    this.frameRequested = requestAnimationFrame(() => {
      this.frameRequested = 0;
      this.renderNow();
    });
  }

  renderNow(): void {
    const ctx = this.ctx;
    const canvas = this.canvas;
    if (!ctx || !canvas || this.disposed) return;
    const t0 = performance.now();
    this.paint(ctx, canvas);
    pushRing(this.stats.renders, performance.now() - t0);
  }

  private paint(ctx: CanvasRenderingContext2D, canvas: HTMLCanvasElement): void {
    const s = this.state.get();
    const slice = this.loader.get(s.z);
    const dpr = canvas.width / Math.max(1, this.viewW);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const v = this.viewport;
    if (!slice) {
      // Scrolling faster than slices arrive: keep the last image, dimmed, under "Loading slice N".
      if (this.imageKey) {
        ctx.setTransform(dpr * v.sx, 0, 0, dpr * v.sy, dpr * v.tx, dpr * v.ty);
        ctx.globalAlpha = 0.35;
        ctx.drawImage(this.imageCanvas as CanvasImageSource, 0, 0);
        ctx.globalAlpha = 1;
      }
      return;
    }
    this.updateImage(s, slice);
    this.updateOverlay(s);
    ctx.setTransform(dpr * v.sx, 0, 0, dpr * v.sy, dpr * v.tx, dpr * v.ty);
    // Smooth when shrinking or mildly enlarging; show pixels as blocks when zoomed in far.
    ctx.imageSmoothingEnabled = v.sx < 3;
    ctx.drawImage(this.imageCanvas as CanvasImageSource, 0, 0);
    if (this.overlayVisible) {
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(this.overlayCanvas as CanvasImageSource, 0, 0);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.drawVectors(ctx, s);
  }

  private updateImage(s: ViewerState, slice: FramePixels): void {
    const key = `${s.z}|${s.window.center}|${s.window.width}|${slice.bytes}`;
    if (key === this.imageKey) return;
    this.imageKey = key;
    const out = new Uint32Array(this.imageData.data.buffer);
    const invert = slice.photometric === "MONOCHROME1";
    let lut: Uint32Array | undefined;
    if (slice.data instanceof Int16Array) {
      const lutKey = `${s.window.center}|${s.window.width}|${invert}`;
      if (this.lut?.key !== lutKey) this.lut = { key: lutKey, table: buildLut16(s.window.center, s.window.width, invert) };
      lut = this.lut.table;
    }
    renderWindowed(slice.data, slice.samples, out, s.window, invert, lut);
    (this.imageCanvas.getContext("2d") as CanvasRenderingContext2D).putImageData(this.imageData, 0, 0);
  }

  private updateOverlay(s: ViewerState): void {
    const key = `${s.z}|${this.labels.version}|${JSON.stringify(s.labelStyles)}|${this.proposalKey(s.z)}`;
    if (key === this.overlayKey) return;
    this.overlayKey = key;
    const set = this.proposalSet?.slices.get(s.z);
    const proposal = set?.candidates[set.selected] ?? null;
    const out = new Uint32Array(this.overlayData.data.buffer);
    const palette = labelPalette(this.schema, s.labelStyles);
    this.overlayVisible = renderOverlay(out, s.cols, s.rows, this.labels.peek(s.z) ?? null, palette, proposal);
    if (this.overlayVisible) {
      (this.overlayCanvas.getContext("2d") as CanvasRenderingContext2D).putImageData(this.overlayData, 0, 0);
    }
  }

  private proposalKey(z: number): string {
    const set = this.proposalSet?.slices.get(z);
    return set ? `${set.frameId}:${set.selected}:${this.promptSeq}` : "-";
  }

  private drawVectors(ctx: CanvasRenderingContext2D, s: ViewerState): void {
    const v = this.viewport;
    const toScreen = (p: Vec2) => imageToScreen(v, p);
    ctx.lineWidth = 1.5;
    // The prompt box (drawn, or being dragged) and clicks on this slice.
    const d = this.drag;
    const box =
      d?.kind === "box"
        ? normalizeBox(d.a, d.b, s.cols, s.rows)
        : this.prompt?.z === s.z
          ? this.prompt.box
          : null;
    if (box) {
      const a = toScreen({ x: box[0], y: box[1] });
      const b = toScreen({ x: box[2], y: box[3] });
      ctx.strokeStyle = PROPOSAL_COLOR;
      ctx.setLineDash(d?.kind === "box" ? [6, 4] : []);
      ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
      ctx.setLineDash([]);
    }
    if (this.prompt?.z === s.z) {
      for (const p of this.prompt.points) {
        const c = toScreen(p);
        ctx.beginPath();
        ctx.arc(c.x, c.y, 5.5, 0, Math.PI * 2);
        ctx.fillStyle = p.label === 1 ? "#34c759" : "#ff453a";
        ctx.fill();
        ctx.strokeStyle = "#ffffff";
        ctx.lineWidth = 1.5;
        ctx.stroke();
        ctx.beginPath();
        ctx.moveTo(c.x - 3, c.y);
        ctx.lineTo(c.x + 3, c.y);
        if (p.label === 1) {
          ctx.moveTo(c.x, c.y - 3);
          ctx.lineTo(c.x, c.y + 3);
        }
        ctx.stroke();
      }
    }
    // Brush outline at the cursor.
    if ((s.tool === "brush" || s.tool === "eraser") && this.hover) {
      const rx = (s.brushSize / 2) * v.sx;
      const ry = (s.brushSize / 2) * v.sy;
      ctx.beginPath();
      ctx.ellipse(this.hover.x, this.hover.y, Math.max(1, rx), Math.max(1, ry), 0, 0, Math.PI * 2);
      ctx.strokeStyle = s.tool === "brush" ? "rgba(255,255,255,0.9)" : "rgba(255,214,10,0.95)";
      ctx.setLineDash(s.tool === "eraser" ? [4, 3] : []);
      ctx.lineWidth = 1.25;
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }
}

function makeCanvas(w: number, h: number): HTMLCanvasElement | OffscreenCanvas {
  if (typeof OffscreenCanvas !== "undefined") return new OffscreenCanvas(Math.max(1, w), Math.max(1, h));
  const c = document.createElement("canvas");
  c.width = Math.max(1, w);
  c.height = Math.max(1, h);
  return c;
}

function pushRing(ring: number[], v: number, max = 512): void {
  ring.push(v);
  if (ring.length > max) ring.splice(0, ring.length - max);
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

function clampInt(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, Math.round(v)));
}
