/** Payloads of the ReadingRoom API (see /api/schema/). Only the fields the app reads are required. */

export interface ApiErrorBody {
  code: string;
  message: string;
  extra: Record<string, unknown>;
}

export interface User {
  id: number;
  username: string;
  first_name: string;
  last_name: string;
  display_color: string;
}

export interface Project {
  id: number;
  slug: string;
  name: string;
  description: string;
  created_at: string;
}

export type ProjectRole = "owner" | "annotator" | "reviewer" | "viewer";

export interface Member {
  user: User;
  role: ProjectRole;
}

export interface IngestJob {
  id: number;
  source?: string;
  status: string;
  total: number;
  processed: number;
  created: number;
  duplicates: number;
  quarantined: number;
  refused: number;
  errors: Array<string | Record<string, unknown>>;
  series_ids: number[];
  created_at?: string;
  finished_at?: string | null;
}

export interface Study {
  id: number;
  study_instance_uid: string;
  patient_key: string;
  study_date: string | null;
  study_description?: string;
  modalities: string[] | string;
  created_at?: string;
  series_count: number;
}

export interface Series {
  id: number;
  study_id: number;
  series_instance_uid: string;
  modality: string;
  body_part?: string;
  series_number: number | null;
  series_description: string;
  rows: number | null;
  columns: number | null;
  pixel_spacing: number[] | null;
  image_orientation: number[] | null;
  slice_spacing: number | null;
  slice_thickness?: number | null;
  frame_count: number;
}

export interface FrameRef {
  /** The frame id: prompts address it. */
  id: number;
  instance_id: number;
  sop_instance_uid?: string;
  frame_index: number;
  sort_index: number;
  slice_position: number | null;
  image_position: number[] | null;
}

export interface SeriesDetail extends Series {
  frames: FrameRef[];
}

export interface FilePreset {
  center: number;
  width: number;
  explanation?: string;
}

export interface Instance {
  id: number;
  series_id: number;
  rows: number;
  columns: number;
  number_of_frames?: number;
  samples_per_pixel?: number;
  photometric_interpretation: string;
  rescale_slope: number | null;
  rescale_intercept: number | null;
  window_presets: FilePreset[];
  pixel_spacing: number[] | null;
  image_position: number[] | null;
  image_orientation: number[] | null;
  modality: string;
}

export type PixelDtype = "int16" | "float32" | "uint8";

/** One decoded frame: raw values with the rescale applied (HU for CT). */
export interface FramePixels {
  rows: number;
  columns: number;
  samples: 1 | 3;
  dtype: PixelDtype;
  data: Int16Array | Float32Array | Uint8Array;
  photometric: string;
  modality: string;
  pixelSpacing: number[] | null;
  presets: FilePreset[];
  /** Bytes held in memory (for the cache budget). */
  bytes: number;
}

export interface BinaryRle {
  size: [number, number];
  counts: number[];
}

export interface PromptRequest {
  box?: [number, number, number, number];
  points?: Array<[number, number]>;
  point_labels?: Array<0 | 1>;
  multimask?: boolean;
  use_previous?: boolean;
  model?: string;
  label_id?: number;
}

export interface Proposal {
  frame_id: number;
  model: string;
  masks: BinaryRle[];
  scores: number[];
  best: number;
  timing_ms?: Record<string, number> | number;
}

export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

export interface PropagatedSlice {
  frame_id: number;
  mask: BinaryRle;
  score: number;
}

export interface SegmentationJob {
  id: number;
  series_id: number;
  kind: string;
  status: JobStatus;
  model: string;
  done: number;
  total: number;
  cancel_requested?: boolean;
  error_code: string;
  result: { slices?: Record<string, PropagatedSlice>; z0?: number; z1?: number } & Record<string, unknown>;
}

export interface ModelList {
  models: string[];
  default: string;
}
