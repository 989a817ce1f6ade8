import type { ComponentChildren } from "preact";
import {
  Brush,
  CircleHelp,
  CircleMinus,
  CirclePlus,
  Contrast,
  Eraser,
  Hand,
  Layers,
  Maximize,
  MousePointerClick,
  PaintBucket,
  Redo2,
  SquareDashedMousePointer,
  Undo2,
  ZoomIn,
} from "lucide-preact";
import { useStore } from "../state/store";
import { BRUSH_MAX, BRUSH_MIN, type Tool, type ViewerController } from "./controller";

function ToolButton(props: {
  label: string;
  shortcut?: string;
  active?: boolean;
  disabled?: boolean;
  onClick: () => void;
  children: ComponentChildren;
  text?: string;
  hint?: string | null;
}) {
  const name = props.hint ?? props.label;
  const title = props.shortcut ? `${name} (${props.shortcut})` : name;
  return (
    <button
      type="button"
      class={`tool${props.active ? " tool--active" : ""}${props.text ? " tool--text" : ""}`}
      title={title}
      aria-label={props.label}
      aria-pressed={props.active === undefined ? undefined : props.active}
      disabled={props.disabled}
      onClick={props.onClick}
    >
      {props.children}
      {props.text && <span>{props.text}</span>}
    </button>
  );
}

function Group(props: { title: string; children: ComponentChildren }) {
  return (
    <div class="toolgroup" role="group" aria-label={props.title}>
      <div class="toolgroup__title">{props.title}</div>
      <div class="toolgroup__items">{props.children}</div>
    </div>
  );
}

const TOOLS: Array<{ tool: Tool; label: string; key: string; icon: ComponentChildren; group: "view" | "ai" | "edit" }> = [
  { tool: "pan", label: "Pan", key: "V", icon: <Hand size={18} />, group: "view" },
  { tool: "window", label: "Window/level", key: "W", icon: <Contrast size={18} />, group: "view" },
  { tool: "zoom", label: "Zoom", key: "Z", icon: <ZoomIn size={18} />, group: "view" },
  { tool: "box", label: "Box prompt", key: "A", icon: <SquareDashedMousePointer size={18} />, group: "ai" },
  { tool: "point", label: "Click prompts", key: "S", icon: <MousePointerClick size={18} />, group: "ai" },
  { tool: "brush", label: "Brush", key: "B", icon: <Brush size={18} />, group: "edit" },
  { tool: "eraser", label: "Eraser", key: "E", icon: <Eraser size={18} />, group: "edit" },
];

export function Toolbar(props: { controller: ViewerController }) {
  const c = props.controller;
  const s = useStore(c.state, (v) => ({
    tool: v.tool,
    window: v.window,
    windowName: v.windowName,
    presets: v.presets,
    brushSize: v.brushSize,
    pointLabel: v.pointLabel,
    multimask: v.multimask,
    canUndo: v.canUndo,
    canRedo: v.canRedo,
    undoName: v.undoName,
    redoName: v.redoName,
    samples: v.samples,
    blocked: v.editBlocked,
  }));
  const tools = (group: "view" | "ai" | "edit") =>
    TOOLS.filter((t) => t.group === group).map((t) => (
      <ToolButton key={t.tool} label={t.label} shortcut={t.key} active={s.tool === t.tool} onClick={() => c.setTool(t.tool)}>
        {t.icon}
      </ToolButton>
    ));
  const presetValue = s.presets.findIndex((p) => p.center === s.window.center && p.width === s.window.width);
  return (
    <div class="toolbar" role="toolbar" aria-label="Viewer tools">
      <Group title="View">
        {tools("view")}
        <ToolButton label="Fit to window" shortcut="F" onClick={() => c.fit()}>
          <Maximize size={18} />
        </ToolButton>
      </Group>
      <Group title="Window">
        <select
          class="select"
          aria-label="Window preset"
          value={presetValue >= 0 ? String(presetValue) : ""}
          onChange={(e) => {
            const v = e.currentTarget.value;
            if (v === "auto") c.autoWindow();
            else if (v !== "") c.applyPreset(s.presets[Number(v)]!);
            e.currentTarget.blur();
          }}
        >
          <option value="" disabled>
            {s.windowName ?? "Custom"}
          </option>
          {s.presets.map((p, i) => (
            <option key={`${p.name}-${i}`} value={String(i)}>
              {p.name} ({p.width}/{p.center}){p.key ? ` · ${p.key}` : ""}
            </option>
          ))}
          <option value="auto">Full range of this slice</option>
        </select>
        <span class="toolbar__readout" data-testid="window-readout" title="Window width / level">
          W {Math.round(s.window.width)} · L {Math.round(s.window.center)}
        </span>
      </Group>
      <Group title="AI">
        {tools("ai")}
        <ToolButton
          label="Click polarity"
          hint={s.pointLabel === 1 ? "Clicks add to the mask (positive)" : "Clicks remove from the mask (negative)"}
          shortcut="N"
          active={false}
          onClick={() => c.setPointLabel(s.pointLabel === 1 ? 0 : 1)}
        >
          {s.pointLabel === 1 ? <CirclePlus size={18} class="ok" /> : <CircleMinus size={18} class="bad" />}
        </ToolButton>
        <ToolButton label="Several candidate masks" active={s.multimask} onClick={() => c.setMultimask(!s.multimask)}>
          <Layers size={18} />
        </ToolButton>
      </Group>
      <Group title="Correct">
        {tools("edit")}
        <label class="brush-size" title="Brush size in image pixels ([ and ])">
          <input
            type="range"
            min={BRUSH_MIN}
            max={BRUSH_MAX}
            value={s.brushSize}
            aria-label="Brush size"
            onInput={(e) => c.setBrushSize(Number(e.currentTarget.value))}
          />
          <span class="toolbar__readout">{s.brushSize} px</span>
        </label>
        <ToolButton label="Fill holes on this slice" shortcut="H" onClick={() => c.fillHolesOnSlice()}>
          <PaintBucket size={18} />
        </ToolButton>
      </Group>
      <Group title="History">
        <ToolButton
          label="Undo"
          hint={s.undoName ? `Undo ${s.undoName.toLowerCase()}` : null}
          shortcut="Ctrl+Z"
          disabled={!s.canUndo || s.blocked !== null}
          onClick={() => c.undo()}
        >
          <Undo2 size={18} />
        </ToolButton>
        <ToolButton
          label="Redo"
          hint={s.redoName ? `Redo ${s.redoName.toLowerCase()}` : null}
          shortcut="Ctrl+Shift+Z"
          disabled={!s.canRedo || s.blocked !== null}
          onClick={() => c.redo()}
        >
          <Redo2 size={18} />
        </ToolButton>
      </Group>
      <div class="toolbar__spacer" />
      <ToolButton label="Keyboard shortcuts" shortcut="?" onClick={() => c.toggleHelp(true)}>
        <CircleHelp size={18} />
      </ToolButton>
    </div>
  );
}
