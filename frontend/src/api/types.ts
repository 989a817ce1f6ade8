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

// ---- workflow: labels, policy, tasks, masks, review, export -------------------------------------

export interface Code {
  scheme: string;
  value: string;
  meaning: string;
}

export interface SegmentationCodes {
  categories: Code[];
  types: Code[];
}

export interface WindowSetting {
  level: number;
  width: number;
}

export interface ApiLabel {
  /** The label's row id (for PUT/DELETE). */
  id: number;
  /** The uint8 written into the label maps. */
  value: number;
  name: string;
  color: string;
  category_code: Code | Record<string, never>;
  type_code: Code | Record<string, never>;
  window: WindowSetting | null;
}

export interface LabelInput {
  value?: number;
  name?: string;
  color?: string;
  category_code?: Code;
  type_code?: Code;
}

export type ConsensusMethod = "reviewer_pick" | "majority" | "staple";

export interface ReadingPolicy {
  readers_per_case: number;
  blind: boolean;
  review_stage: boolean;
  consensus_method: ConsensusMethod;
  require_signoff_for_export: boolean;
  model_settings?: { window?: WindowSetting } & Record<string, unknown>;
}

export type PolicyInput = Partial<Omit<ReadingPolicy, "model_settings">> & { window?: WindowSetting };

export type TaskStatus = "open" | "assigned" | "submitted" | "returned";

export interface Task {
  id: number;
  case_id: number;
  series_id: number;
  slot: number;
  reader: string | null;
  status: TaskStatus;
  priority: number;
  due_date: string | null;
  assigned_at?: string | null;
  submitted_at?: string | null;
  return_comment: string;
  annotation_id: number | null;
}

export type CaseStatus = "reading" | "in_review" | "signed";

export interface Case {
  id: number;
  series_id: number;
  study_id: number;
  modality: string;
  frame_count: number;
  status: CaseStatus;
  priority: number;
  due_date: string | null;
  created_at: string;
}

export interface Annotation {
  id: number;
  case_id: number;
  task_id: number | null;
  kind: "read" | "consensus";
  author: string;
  head: number;
  signed_version: number | null;
  created_at: string;
}

export interface AnnotationFrameInfo {
  sha256: string;
  labels: number[];
  version: number;
}

export interface AnnotationDetail extends Annotation {
  frames: Record<string, AnnotationFrameInfo>;
}

export interface LabelMapRle {
  size: [number, number];
  values: number[];
  counts: number[];
}

export interface AnnotationFrame {
  frame_id: number;
  version: number;
  mask: LabelMapRle;
  draft: { base_version: number; mask: LabelMapRle } | null;
}

export type MaskSourceName = "model" | "brush" | "eraser" | "propagation" | "import" | "mixed";

export interface MaskSaveRequest {
  base_version: number;
  source: MaskSourceName;
  frames: Record<string, LabelMapRle>;
}

export interface MaskVersion {
  number: number;
  author: string;
  source: string;
  created_at: string;
  frames_changed: number[];
}

export interface AgreementPair {
  a: number;
  b: number;
  dice: number;
  iou: number;
  hd95_mm: number | null;
  volume_a_ml: number;
  volume_b_ml: number;
  volume_diff_ml: number;
}

export interface AgreementLabel {
  label: number;
  name: string;
  pairs: AgreementPair[];
  mean: { dice: number | null; iou: number | null; hd95_mm: number | null; volume_diff_ml: number | null };
}

export interface CaseReview {
  case: Case;
  tasks: Task[];
  annotations: Annotation[];
  agreement: { readers: Array<{ annotation_id: number; reader: string }>; labels: AgreementLabel[] };
}

export interface SignOff {
  id: number;
  annotation_id: number;
  version: number;
  signer: string;
  signed_at: string;
  digest: string;
  meaning: string;
}

export type ExportFormat = "seg" | "nifti" | "png" | "coco";

export interface ExportJob {
  id: number;
  formats: ExportFormat[];
  case_ids: number[];
  status: "queued" | "running" | "done" | "failed" | string;
  done: number;
  total: number;
  error_code: string;
  created_at: string;
  finished_at: string | null;
}
