/** The viewer's keyboard shortcuts, as listed in the help overlay ("?"). The controller implements them. */

export interface Shortcut {
  keys: string[];
  action: string;
}

export interface ShortcutGroup {
  title: string;
  items: Shortcut[];
}

export const SHORTCUTS: readonly ShortcutGroup[] = [
  {
    title: "Navigate",
    items: [
      { keys: ["Wheel", "↑", "↓"], action: "Previous / next slice" },
      { keys: ["PgUp", "PgDn"], action: "Ten slices back / forward" },
      { keys: ["Home", "End"], action: "First / last slice" },
      { keys: ["Right-drag"], action: "Window / level (any tool)" },
      { keys: ["Middle-drag"], action: "Pan (any tool)" },
      { keys: ["Ctrl+Wheel"], action: "Zoom at the cursor" },
      { keys: ["+", "−"], action: "Zoom in / out" },
      { keys: ["F"], action: "Fit the image to the window" },
      { keys: ["V"], action: "Pan tool" },
      { keys: ["W"], action: "Window/level tool" },
      { keys: ["Z"], action: "Zoom tool" },
      { keys: ["1", "2", "3", "4"], action: "CT presets: soft tissue, lung, bone, brain" },
      { keys: ["5", "…", "9"], action: "The file's own window presets" },
    ],
  },
  {
    title: "AI tools",
    items: [
      { keys: ["A"], action: "Box prompt: drag a box around the structure" },
      { keys: ["S"], action: "Click prompts: click to add positive points" },
      { keys: ["Shift+Click", "Alt+Click"], action: "Negative point (exclude)" },
      { keys: ["N"], action: "Toggle positive / negative clicks" },
      { keys: ["M"], action: "Next candidate mask (multimask)" },
      { keys: ["Enter"], action: "Accept the proposal" },
      { keys: ["Esc"], action: "Reject the proposal / clear prompts" },
    ],
  },
  {
    title: "Correct",
    items: [
      { keys: ["B"], action: "Brush" },
      { keys: ["E"], action: "Eraser" },
      { keys: ["[", "]"], action: "Smaller / larger brush" },
      { keys: ["H"], action: "Fill holes on this slice" },
      { keys: ["L"], action: "Show / hide the active label" },
      { keys: ["Ctrl+Z"], action: "Undo" },
      { keys: ["Ctrl+Shift+Z", "Ctrl+Y"], action: "Redo" },
      { keys: ["Ctrl+S"], action: "Save a new version (your read or consensus)" },
      { keys: ["?"], action: "This help" },
    ],
  },
];
