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

// ---- curation: find, saved filters, bulk actions, duplicates, snapshots, exports, statistics ------

export type CurationTarget = "case" | "series" | "study";
export type CaseState = "unread" | "reading" | "in_review" | "signed";
export type FlagKind = "motion_artefact" | "wrong_series" | "visible_phi" | "bad_annotation" | "excluded";

export interface NumberRange {
  min?: number;
  max?: number;
}

export interface LabelConditionDoc {
  label: number | string;
  present?: boolean;
  volume_ml?: NumberRange;
  slices?: NumberRange;
  dice?: NumberRange;
}

/** The backend's filter document (backend/curation/filters.py): lists are OR, fields are AND. */
export interface FilterDocument {
  target?: CurationTarget;
  projects?: string[];
  case_ids?: number[];
  series_ids?: number[];
  study_ids?: number[];
  modality?: string[];
  body_part?: string[];
  manufacturer?: string[];
  slice_thickness?: NumberRange;
  study_date?: { from?: string; to?: string };
  patient_keys?: string[];
  has_case?: boolean;
  status?: CaseState[];
  labels?: LabelConditionDoc[];
  agreement?: { mean_dice?: NumberRange; min_dice?: NumberRange; min_readers?: number };
  readers?: Array<number | string>;
  tags?: string[];
  exclude_tags?: string[];
  flagged?: boolean;
  flags?: FlagKind[];
}

export interface Thumbnail {
  instance_id: number;
  frame_index: number;
}

export interface CurationFlag {
  id: number;
  kind: FlagKind;
  reason: string;
}

export interface CaseRow {
  id: number;
  project_id: number;
  project: string;
  status: CaseStatus;
  series_id: number;
  study_id: number;
  priority: number;
  patient_key: string;
  study_date: string | null;
  modality: string;
  body_part: string;
  manufacturer: string;
  slice_thickness: number | null;
  frame_count: number;
  labels: Array<{ value: number; volume_ml: number; slices: number; dice: number | null }>;
  reference: { source: string; annotation_id: number | null; version: number | null } | null;
  mean_dice: number | null;
  min_dice: number | null;
  readers: number;
  tags: string[];
  flags: CurationFlag[];
  thumbnail: Thumbnail | null;
}

export interface SeriesRow {
  id: number;
  study_id: number;
  project: string;
  modality: string;
  body_part: string;
  manufacturer: string;
  slice_thickness: number | null;
  frame_count: number;
  series_description: string;
  case_id: number | null;
  thumbnail: Thumbnail | null;
}

export interface StudyRow {
  id: number;
  project: string;
  study_instance_uid: string;
  patient_key: string;
  study_date: string | null;
  modalities: string[];
  series_count: number;
  tags: string[];
  flags: CurationFlag[];
}

export type FindRow = CaseRow | SeriesRow | StudyRow;

export interface FindPage<T = FindRow> {
  target: CurationTarget;
  items: T[];
  next_cursor: string | null;
  count?: number;
}

export interface FindRequest {
  filter?: FilterDocument;
  saved_filter_id?: number;
  cursor?: string;
  limit?: number;
  count?: boolean;
}

export interface CurationAccess {
  role: ProjectRole;
  curator: boolean;
  roles: ProjectRole[];
}

export interface SavedFilter {
  id: number;
  name: string;
  description: string;
  document: FilterDocument;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export type BulkAction = "tag" | "untag" | "flag" | "unflag" | "exclude" | "include" | "note" | "assign" | "add_cases";

export interface BulkRequest {
  action: BulkAction;
  target: CurationTarget;
  ids: number[];
  params?: Record<string, unknown>;
}

export interface BulkResult {
  action: BulkAction;
  target: CurationTarget;
  done: number[];
  skipped: Array<{ id: number; code: string }>;
}

export interface TagCount {
  name: string;
  count: number;
}

export interface DuplicatePair {
  series_a: number;
  series_b: number;
  case_a: number | null;
  case_b: number | null;
  project_a: string;
  project_b: string;
  same_patient: boolean;
  kind: "exact" | "near";
  exact_instances: number;
  near_instances: number;
  min_distance: number;
  splits?: Array<string | null>;
  cross_split?: boolean;
}

export interface DuplicatesReport {
  max_distance: number;
  pairs: DuplicatePair[];
  /** Instances of the selected series without a fingerprint yet (a scan computes them). */
  missing: number;
}

export type SplitName = "train" | "val" | "test";
export type SplitRatios = Record<SplitName, number>;

export interface SplitCounts {
  cases: Record<SplitName, number>;
  patients: Record<SplitName, number>;
  /** Per label value (as a string): cases carrying it in each split. */
  labels: Record<string, Record<SplitName, number>>;
}

export interface SnapshotSelection {
  filter?: FilterDocument | null;
  saved_filter_id?: number;
  case_ids?: number[];
  exclude_case_ids?: number[];
  include_flagged?: boolean | number[];
  split: Partial<SplitRatios>;
  seed: number;
}

export interface SnapshotPreview {
  content_hash: string;
  existing_snapshot_id: number | null;
  cases: number;
  ratios: SplitRatios;
  seed: number;
  signed_only: boolean;
  split_counts: SplitCounts;
  flagged_excluded: Array<{ case_id: number; flags: string[] }>;
  flagged_excluded_count: number;
  problem: { code: string; message: string; extra: Record<string, unknown> } | null;
  duplicates: DuplicatesReport;
  label_schema: Array<{ value: number; name: string; color: string }>;
}

export interface Snapshot {
  id: number;
  name: string;
  version: number;
  content_hash: string;
  description: string;
  seed: number;
  ratios: SplitRatios;
  selection: Record<string, unknown>;
  label_schema: Array<{ value: number; name: string; color: string }>;
  reader_stats: Array<{ reader: string; reads: number; pairs: number; mean_dice: number | null }>;
  split_counts: SplitCounts;
  case_count: number;
  created_by: string;
  created_at: string;
}

export interface SnapshotItem {
  case_id: number;
  annotation_id: number;
  version_id: number;
  split: SplitName;
  patient_key: string;
  labels: number[];
  source: Record<string, unknown>;
  licence: string;
}

export interface SnapshotDiff {
  from: { id: number; name: string; version: number; content_hash: string };
  to: { id: number; name: string; version: number; content_hash: string };
  identical: boolean;
  added: number[];
  removed: number[];
  changed: Array<{ case_id: number; from: { annotation_id: number; version_id: number }; to: { annotation_id: number; version_id: number } }>;
  moved: Array<{ case_id: number; from: SplitName; to: SplitName }>;
  unchanged: number;
  label_schema_changed: boolean;
}

export type SnapshotExportFormat = "nnunet" | "monai" | "seg" | "coco";

export interface SnapshotExport {
  id: number;
  snapshot_id: number;
  formats: SnapshotExportFormat[];
  state: "queued" | "running" | "done" | "failed";
  done: number;
  total: number;
  size: number | null;
  manifest_sha256: string;
  error_code: string;
  created_at: string;
  finished_at: string | null;
}

export interface Histogram {
  edges: number[];
  counts: number[];
}

export interface CurationStats {
  cases: number;
  status: Record<string, number>;
  labels: Array<{ value: number; name: string; cases: number; total_volume_ml: number; volume_histogram: Histogram }>;
  agreement: { cases: number; mean_dice_histogram: Histogram; mean: number | null };
  throughput: { from: string; to: string; readers: Array<{ reader: string; per_day: Record<string, number>; total: number }> };
}
