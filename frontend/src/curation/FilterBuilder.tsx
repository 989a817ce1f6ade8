/** The filter builder: conditions over the backend's filter grammar, the search scope, and saved filters. */

import { FolderOpen, Plus, Save, Search, Trash2, X } from "lucide-preact";
import { useState } from "preact/hooks";
import { type ApiError, api, toApiError } from "../api/client";
import type { ApiLabel, CaseState, CurationTarget, FilterDocument, FlagKind, Member, SavedFilter, TagCount } from "../api/types";
import { Spinner } from "../components/ui";
import { notify, notifyError } from "../state/notify";
import {
  CASE_STATES,
  type Condition,
  type ConditionField,
  FIELDS,
  FLAG_KINDS,
  addableFields,
  describeFilterErrors,
  fieldText,
  newCondition,
} from "./filterModel";

export type Scope = "project" | "all";

export interface BuilderState {
  target: CurationTarget;
  scope: Scope;
  conditions: Condition[];
}

interface Props {
  slug: string;
  state: BuilderState;
  onChange: (next: BuilderState) => void;
  onSearch: () => void;
  busy: boolean;
  /** The last search's error (400 invalid_filter and friends), shown next to the builder. */
  error: ApiError | null;
  labels: ApiLabel[];
  members: Member[];
  tags: TagCount[];
}

const TARGETS: Array<{ value: CurationTarget; text: string }> = [
  { value: "case", text: "Cases" },
  { value: "series", text: "Series" },
  { value: "study", text: "Studies" },
];

export function FilterBuilder(props: Props) {
  const { state } = props;
  const [adding, setAdding] = useState<string>("");
  const update = (id: number, patch: Partial<Condition>) =>
    props.onChange({ ...state, conditions: state.conditions.map((c) => (c.id === id ? ({ ...c, ...patch } as Condition) : c)) });
  const remove = (id: number) => props.onChange({ ...state, conditions: state.conditions.filter((c) => c.id !== id) });
  const add = (field: string) => {
    if (!field) return;
    props.onChange({ ...state, conditions: [...state.conditions, newCondition(field as Exclude<ConditionField, "raw">)] });
    setAdding("");
  };
  const errorLines = props.error ? describeFilterErrors(props.error.extra) : [];
  return (
    <section class="panel filter-builder" aria-labelledby="filter-title">
      <div class="panel__header">
        <h2 id="filter-title">Filter</h2>
        <div class="filter-builder__scope">
          <label class="field field--inline">
            Find
            <select
              class="select"
              aria-label="Find"
              value={state.target}
              onChange={(e) => props.onChange({ ...state, target: e.currentTarget.value as CurationTarget })}
            >
              {TARGETS.map((t) => (
                <option key={t.value} value={t.value}>
                  {t.text}
                </option>
              ))}
            </select>
          </label>
          <label class="field field--inline">
            in
            <select
              class="select"
              aria-label="Search in"
              value={state.scope}
              onChange={(e) => props.onChange({ ...state, scope: e.currentTarget.value as Scope })}
            >
              <option value="project">this project</option>
              <option value="all">all my projects</option>
            </select>
          </label>
        </div>
      </div>
      {state.conditions.length === 0 && <p class="muted small">No condition: everything you may see matches. Add conditions to narrow it.</p>}
      <ul class="conditions" aria-label="Conditions">
        {state.conditions.map((c) => (
          <li key={c.id} class="condition" data-field={c.field}>
            <span class="condition__field">{fieldText(c.field)}</span>
            <div class="condition__editor">
              <ConditionEditor condition={c} update={(patch) => update(c.id, patch)} {...props} />
            </div>
            <button class="icon-button icon-button--small" aria-label={`Remove condition ${fieldText(c.field)}`} onClick={() => remove(c.id)}>
              <X size={14} />
            </button>
          </li>
        ))}
      </ul>
      <div class="actions filter-builder__actions">
        <label class="field field--inline">
          <Plus size={14} aria-hidden="true" />
          <select class="select" aria-label="Add condition" value={adding} onChange={(e) => add(e.currentTarget.value)}>
            <option value="">Add condition…</option>
            {addableFields(state.conditions).map((f) => (
              <option key={f.field} value={f.field}>
                {f.text}
              </option>
            ))}
          </select>
        </label>
        <button class="button button--primary" onClick={props.onSearch} disabled={props.busy}>
          {props.busy ? <Spinner size={14} /> : <Search size={16} />} Search
        </button>
      </div>
      {props.error && (
        <div class="form-error" role="alert" data-testid="filter-error">
          <strong class="mono">{props.error.code}</strong>: {props.error.message}
          {errorLines.length > 0 && (
            <ul class="error-list">
              {errorLines.map((line, i) => (
                <li key={i}>{line}</li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}

function NumberInput(props: { label: string; value: string; onInput: (v: string) => void; placeholder?: string; step?: string }) {
  return (
    <input
      class="input input--number"
      type="text"
      inputMode="decimal"
      aria-label={props.label}
      placeholder={props.placeholder ?? ""}
      value={props.value}
      onInput={(e) => props.onInput(e.currentTarget.value)}
    />
  );
}

function RangeInputs(props: { label: string; min: string; max: string; onMin: (v: string) => void; onMax: (v: string) => void }) {
  return (
    <span class="range-inputs">
      <NumberInput label={`${props.label} from`} placeholder="from" value={props.min} onInput={props.onMin} />
      <span aria-hidden="true">–</span>
      <NumberInput label={`${props.label} to`} placeholder="to" value={props.max} onInput={props.onMax} />
    </span>
  );
}

function Checks<T extends string>(props: { label: string; options: Array<{ value: T; text: string }>; values: T[]; onChange: (v: T[]) => void }) {
  return (
    <span class="check-row" role="group" aria-label={props.label}>
      {props.options.map((o) => (
        <label key={o.value} class="check-row__item">
          <input
            type="checkbox"
            checked={props.values.includes(o.value)}
            onChange={(e) =>
              props.onChange(e.currentTarget.checked ? [...props.values, o.value] : props.values.filter((v) => v !== o.value))
            }
          />
          {o.text}
        </label>
      ))}
    </span>
  );
}

function ConditionEditor(props: Props & { condition: Condition; update: (patch: Partial<Condition>) => void }) {
  const c = props.condition;
  const hint = FIELDS.find((f) => f.field === c.field)?.hint ?? "";
  switch (c.field) {
    case "slice_thickness":
      return (
        <RangeInputs label="Slice thickness" min={c.min} max={c.max} onMin={(min) => props.update({ min })} onMax={(max) => props.update({ max })} />
      );
    case "study_date":
      return (
        <span class="range-inputs">
          <input class="input input--date" type="date" aria-label="Study date from" value={c.from} onInput={(e) => props.update({ from: e.currentTarget.value })} />
          <span aria-hidden="true">–</span>
          <input class="input input--date" type="date" aria-label="Study date to" value={c.to} onInput={(e) => props.update({ to: e.currentTarget.value })} />
        </span>
      );
    case "status":
      return <Checks<CaseState> label="Status" options={CASE_STATES} values={c.values} onChange={(values) => props.update({ values })} />;
    case "flags":
      return <Checks<FlagKind> label="Flags" options={FLAG_KINDS} values={c.values} onChange={(values) => props.update({ values })} />;
    case "has_case":
    case "flagged":
      return (
        <select
          class="select"
          aria-label={fieldText(c.field)}
          value={c.value ? "yes" : "no"}
          onChange={(e) => props.update({ value: e.currentTarget.value === "yes" })}
        >
          <option value="yes">yes</option>
          <option value="no">no</option>
        </select>
      );
    case "label":
      return (
        <span class="label-condition">
          <select class="select" aria-label="Label" value={c.label} onChange={(e) => props.update({ label: e.currentTarget.value })}>
            <option value="">Choose a label…</option>
            {props.labels.map((l) => (
              <option key={l.value} value={String(l.value)}>
                {l.name} ({l.value})
              </option>
            ))}
            {c.label && !props.labels.some((l) => String(l.value) === c.label) && <option value={c.label}>{c.label}</option>}
          </select>
          <select
            class="select"
            aria-label="Label presence"
            value={c.present ? "present" : "absent"}
            onChange={(e) => props.update({ present: e.currentTarget.value === "present" })}
          >
            <option value="present">present</option>
            <option value="absent">absent</option>
          </select>
          {c.present && (
            <>
              <span class="muted small">volume mL</span>
              <RangeInputs label="Volume" min={c.volumeMin} max={c.volumeMax} onMin={(volumeMin) => props.update({ volumeMin })} onMax={(volumeMax) => props.update({ volumeMax })} />
              <span class="muted small">slices</span>
              <RangeInputs label="Slices" min={c.slicesMin} max={c.slicesMax} onMin={(slicesMin) => props.update({ slicesMin })} onMax={(slicesMax) => props.update({ slicesMax })} />
              <span class="muted small">Dice</span>
              <RangeInputs label="Label Dice" min={c.diceMin} max={c.diceMax} onMin={(diceMin) => props.update({ diceMin })} onMax={(diceMax) => props.update({ diceMax })} />
            </>
          )}
        </span>
      );
    case "agreement":
      return (
        <span class="label-condition">
          <span class="muted small">mean Dice</span>
          <RangeInputs label="Mean Dice" min={c.meanMin} max={c.meanMax} onMin={(meanMin) => props.update({ meanMin })} onMax={(meanMax) => props.update({ meanMax })} />
          <span class="muted small">lowest pair</span>
          <RangeInputs
            label="Lowest Dice"
            min={c.minDiceMin}
            max={c.minDiceMax}
            onMin={(minDiceMin) => props.update({ minDiceMin })}
            onMax={(minDiceMax) => props.update({ minDiceMax })}
          />
          <span class="muted small">readers ≥</span>
          <NumberInput label="At least readers" value={c.minReaders} onInput={(minReaders) => props.update({ minReaders })} />
        </span>
      );
    case "raw":
      return (
        <span class="label-condition">
          <span class="mono small">{c.key}</span>
          <input class="input mono" aria-label={`${c.key} (JSON)`} value={c.json} onInput={(e) => props.update({ json: e.currentTarget.value })} />
        </span>
      );
    default: {
      const listId = `list-${c.field}-${c.id}`;
      const suggestions =
        c.field === "tags" || c.field === "exclude_tags"
          ? props.tags.map((t) => t.name)
          : c.field === "readers"
            ? props.members.map((m) => m.user.username)
            : [];
      return (
        <>
          <input
            class="input"
            aria-label={fieldText(c.field)}
            placeholder={hint}
            value={c.text}
            list={suggestions.length ? listId : undefined}
            onInput={(e) => props.update({ text: e.currentTarget.value })}
            onKeyDown={(e) => e.key === "Enter" && props.onSearch()}
          />
          {suggestions.length > 0 && (
            <datalist id={listId}>
              {suggestions.map((s) => (
                <option key={s} value={s} />
              ))}
            </datalist>
          )}
        </>
      );
    }
  }
}

/** Saved filters of the project: save the current one under a name, load one into the builder, delete one. */
export function SavedFilters(props: {
  slug: string;
  filters: SavedFilter[];
  onFilters: (next: SavedFilter[]) => void;
  current: () => FilterDocument;
  onLoad: (saved: SavedFilter) => void;
}) {
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      const saved = await api.curation.saveFilter(props.slug, { name: name.trim(), document: props.current() });
      props.onFilters([...props.filters, saved].sort((a, b) => a.name.localeCompare(b.name)));
      setName("");
      notify("success", `Filter "${saved.name}" saved.`);
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };
  const remove = async (saved: SavedFilter) => {
    if (!window.confirm(`Delete the saved filter "${saved.name}"?`)) return;
    try {
      await api.curation.deleteFilter(props.slug, saved.id);
      props.onFilters(props.filters.filter((f) => f.id !== saved.id));
      notify("info", `Filter "${saved.name}" deleted.`);
    } catch (err) {
      notifyError(err, "Not deleted");
    }
  };
  const errorLines = error ? describeFilterErrors(error.extra) : [];
  return (
    <section class="panel saved-filters" aria-labelledby="saved-title">
      <div class="panel__header">
        <h2 id="saved-title">Saved filters</h2>
      </div>
      <form
        class="saved-filters__form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <input class="input" aria-label="Filter name" placeholder="Name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <button class="button button--small" type="submit" disabled={busy || !name.trim()}>
          {busy ? <Spinner size={14} /> : <Save size={14} />} Save filter
        </button>
      </form>
      {error && (
        <div class="form-error" role="alert" data-testid="save-filter-error">
          <strong class="mono">{error.code}</strong>: {error.message}
          {errorLines.length > 0 && <div>{errorLines.join("; ")}</div>}
        </div>
      )}
      {props.filters.length === 0 ? (
        <p class="muted small">No saved filter yet.</p>
      ) : (
        <ul class="saved-filters__list" aria-label="Saved filters">
          {props.filters.map((f) => (
            <li key={f.id}>
              <span class="saved-filters__name" title={JSON.stringify(f.document)}>
                {f.name}
              </span>
              <span class="muted small">{f.created_by ?? ""}</span>
              <button class="button button--small button--ghost" onClick={() => props.onLoad(f)} aria-label={`Load filter ${f.name}`}>
                <FolderOpen size={14} /> Load
              </button>
              <button class="icon-button icon-button--small" onClick={() => void remove(f)} aria-label={`Delete filter ${f.name}`}>
                <Trash2 size={14} />
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
