/** Project settings (owners): the label schema (colour, SNOMED CT category and type) and the reading policy. */

import { Plus, Save, Trash2 } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import { api, toApiError } from "../api/client";
import type { ApiLabel, Code, ConsensusMethod, LabelInput, ReadingPolicy, SegmentationCodes } from "../api/types";
import { ProjectHeader, isOwner, useProjectRole } from "../components/ProjectNav";
import { PageState, Spinner } from "../components/ui";
import { useAsync } from "../components/useAsync";
import { LABEL_COLORS, nextFreeValue } from "../labels";
import { notify } from "../state/notify";

const codeKey = (c: Partial<Code> | null | undefined) => (c && c.value ? `${c.scheme ?? "SCT"}:${c.value}` : "");

function findCode(list: Code[], key: string): Code | undefined {
  return list.find((c) => codeKey(c) === key);
}

function CodeSelect(props: {
  label: string;
  codes: Code[];
  value: string;
  onChange: (key: string) => void;
  placeholder: string;
}) {
  // Two entries may share a meaning ("Anatomical Structure"): show the code when it does.
  const counts = new Map<string, number>();
  for (const c of props.codes) counts.set(c.meaning, (counts.get(c.meaning) ?? 0) + 1);
  return (
    <select class="select select--wide" aria-label={props.label} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
      <option value="">{props.placeholder}</option>
      {props.codes.map((c) => (
        <option key={codeKey(c)} value={codeKey(c)}>
          {c.meaning}
          {(counts.get(c.meaning) ?? 0) > 1 ? ` (${c.scheme} ${c.value})` : ""}
        </option>
      ))}
    </select>
  );
}

export const CONSENSUS_METHODS: Array<{ value: ConsensusMethod; text: string }> = [
  { value: "staple", text: "STAPLE (weights readers by estimated performance)" },
  { value: "majority", text: "Majority vote" },
  { value: "reviewer_pick", text: "Reviewer picks one read" },
];

export function SettingsPage(props: { params?: Record<string, string> }) {
  const slug = props.params?.slug ?? "";
  const role = useProjectRole(slug);
  const data = useAsync(async () => {
    const [project, labels, codes, policy] = await Promise.all([
      api.projects.get(slug),
      api.labels.list(slug),
      api.labels.codes(),
      api.policy.get(slug),
    ]);
    return { project, labels, codes, policy };
  }, [slug]);
  const [labels, setLabels] = useState<ApiLabel[]>([]);
  useEffect(() => {
    if (data.status === "ready") setLabels(data.data.labels);
  }, [data.status, data.data]);

  return (
    <div class="page">
      <ProjectHeader slug={slug} project={data.status === "ready" ? data.data.project : null} here="Settings" />
      {role !== undefined && !isOwner(role) && (
        <PageState kind="error">Only the project's owners change its settings.</PageState>
      )}
      {data.status === "loading" && <PageState kind="loading">Loading the settings…</PageState>}
      {data.status === "error" && <PageState kind="error">{data.error.message}</PageState>}
      {data.status === "ready" && isOwner(role) && (
        <div class="settings">
          <section class="panel" aria-labelledby="labels-title">
            <div class="panel__header">
              <h2 id="labels-title">Labels</h2>
              <span class="muted small">{labels.length} of 255</span>
            </div>
            <p class="muted small">
              What readers paint. The value is the number stored in the masks (fixed once created); the SNOMED CT category
              and type go into the DICOM SEG export.
            </p>
            {labels.length > 0 && (
              <table class="table table--labels" aria-label="Labels">
                <thead>
                  <tr>
                    <th>Value</th>
                    <th>Colour</th>
                    <th>Name</th>
                    <th>Category</th>
                    <th>Type</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {labels.map((l) => (
                    <LabelRow
                      key={l.id}
                      slug={slug}
                      label={l}
                      codes={data.data.codes}
                      onSaved={(saved) => setLabels((ls) => ls.map((x) => (x.id === saved.id ? saved : x)))}
                      onDeleted={() => setLabels((ls) => ls.filter((x) => x.id !== l.id))}
                    />
                  ))}
                </tbody>
              </table>
            )}
            <NewLabel
              slug={slug}
              labels={labels}
              codes={data.data.codes}
              onCreated={(l) => setLabels((ls) => [...ls, l].sort((a, b) => a.value - b.value))}
            />
          </section>
          <PolicyForm slug={slug} initial={data.data.policy} />
        </div>
      )}
    </div>
  );
}

function LabelRow(props: {
  slug: string;
  label: ApiLabel;
  codes: SegmentationCodes;
  onSaved: (l: ApiLabel) => void;
  onDeleted: () => void;
}) {
  const l = props.label;
  const [name, setName] = useState(l.name);
  const [color, setColor] = useState(l.color);
  const [category, setCategory] = useState(codeKey(l.category_code as Code));
  const [type, setType] = useState(codeKey(l.type_code as Code));
  const [busy, setBusy] = useState(false);
  const changed =
    name !== l.name || color.toLowerCase() !== l.color.toLowerCase() || category !== codeKey(l.category_code as Code) || type !== codeKey(l.type_code as Code);
  const save = async () => {
    setBusy(true);
    const body: LabelInput = { name: name.trim(), color };
    const cat = findCode(props.codes.categories, category);
    const typ = findCode(props.codes.types, type);
    if (cat) body.category_code = cat;
    if (typ) body.type_code = typ;
    try {
      props.onSaved(await api.labels.update(props.slug, l.id, body));
      notify("success", `Label “${name.trim()}” saved.`, 2500);
    } catch (err) {
      notify("error", `Label not saved: ${toApiError(err).message}`);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    if (!window.confirm(`Delete the label “${l.name}”? Masks that use it prevent this.`)) return;
    setBusy(true);
    try {
      await api.labels.remove(props.slug, l.id);
      props.onDeleted();
    } catch (err) {
      notify("error", `Label not deleted: ${toApiError(err).message}`);
      setBusy(false);
    }
  };
  return (
    <tr>
      <td class="mono">{l.value}</td>
      <td>
        <input type="color" class="color-input" value={color} aria-label={`${l.name} colour`} onInput={(e) => setColor(e.currentTarget.value)} />
      </td>
      <td>
        <input class="input" value={name} aria-label={`${l.name} name`} maxLength={64} onInput={(e) => setName(e.currentTarget.value)} />
      </td>
      <td>
        <CodeSelect label={`${l.name} category`} codes={props.codes.categories} value={category} onChange={setCategory} placeholder="Default" />
      </td>
      <td>
        <CodeSelect label={`${l.name} type`} codes={props.codes.types} value={type} onChange={setType} placeholder="Default (Lesion)" />
      </td>
      <td class="table__actions">
        <button class="button button--small" disabled={!changed || busy || !name.trim()} onClick={() => void save()}>
          <Save size={14} /> Save
        </button>
        <button class="icon-button" aria-label={`Delete ${l.name}`} title="Delete" disabled={busy} onClick={() => void remove()}>
          <Trash2 size={16} />
        </button>
      </td>
    </tr>
  );
}

function NewLabel(props: { slug: string; labels: ApiLabel[]; codes: SegmentationCodes; onCreated: (l: ApiLabel) => void }) {
  const free = nextFreeValue(props.labels);
  const [name, setName] = useState("");
  const [value, setValue] = useState<number>(free ?? 1);
  const [color, setColor] = useState(LABEL_COLORS[props.labels.length % LABEL_COLORS.length]!);
  const [category, setCategory] = useState("SCT:123037004");
  const [type, setType] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setValue(nextFreeValue(props.labels) ?? 1);
    setColor(LABEL_COLORS[props.labels.length % LABEL_COLORS.length]!);
  }, [props.labels.length]);
  const onType = (key: string) => {
    setType(key);
    const code = findCode(props.codes.types, key);
    // Naming the structure by its SNOMED type is the usual case: fill the name when it is empty.
    if (code && !name.trim()) setName(code.meaning);
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!name.trim()) {
      setError("Give the label a name.");
      return;
    }
    setBusy(true);
    const body: LabelInput = { value, name: name.trim(), color };
    const cat = findCode(props.codes.categories, category);
    const typ = findCode(props.codes.types, type);
    if (cat) body.category_code = cat;
    if (typ) body.type_code = typ;
    try {
      const created = await api.labels.create(props.slug, body);
      props.onCreated(created);
      notify("success", `Label “${created.name}” added (value ${created.value}).`, 3000);
      setName("");
      setType("");
    } catch (err) {
      setError(toApiError(err).message);
    } finally {
      setBusy(false);
    }
  };
  if (free === null) return <p class="muted small">All 255 label values are in use.</p>;
  return (
    <form class="new-label" onSubmit={(e) => void submit(e)} aria-label="New label">
      <h3>Add a label</h3>
      <div class="form-grid">
        <label class="field">
          <span>Type (SNOMED CT)</span>
          <CodeSelect label="New label type" codes={props.codes.types} value={type} onChange={onType} placeholder="Choose a structure…" />
        </label>
        <label class="field">
          <span>Category</span>
          <CodeSelect label="New label category" codes={props.codes.categories} value={category} onChange={setCategory} placeholder="Default" />
        </label>
        <label class="field">
          <span>Name</span>
          <input class="input" value={name} maxLength={64} aria-label="New label name" onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label class="field field--narrow">
          <span>Value</span>
          <input
            class="input"
            type="number"
            min={1}
            max={255}
            value={value}
            aria-label="New label value"
            onInput={(e) => setValue(Number(e.currentTarget.value))}
          />
        </label>
        <label class="field field--narrow">
          <span>Colour</span>
          <input type="color" class="color-input" value={color} aria-label="New label colour" onInput={(e) => setColor(e.currentTarget.value)} />
        </label>
        <div class="field field--end">
          <button class="button button--primary" type="submit" disabled={busy}>
            {busy ? <Spinner size={14} /> : <Plus size={16} />} Add label
          </button>
        </div>
      </div>
      {error && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function PolicyForm(props: { slug: string; initial: ReadingPolicy }) {
  const [p, setP] = useState<ReadingPolicy>(props.initial);
  const w = props.initial.model_settings?.window;
  const [level, setLevel] = useState(w ? String(w.level) : "");
  const [width, setWidth] = useState(w ? String(w.width) : "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const set = <K extends keyof ReadingPolicy>(k: K, v: ReadingPolicy[K]) => setP((x) => ({ ...x, [k]: v }));
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const body: Parameters<typeof api.policy.update>[1] = {
      readers_per_case: p.readers_per_case,
      blind: p.blind,
      review_stage: p.review_stage,
      consensus_method: p.consensus_method,
      require_signoff_for_export: p.require_signoff_for_export,
    };
    if (level.trim() || width.trim()) {
      const l = Number(level);
      const wd = Number(width);
      if (!Number.isFinite(l) || !Number.isFinite(wd) || wd <= 0) {
        setError("The CT window needs a level and a positive width (or leave both empty).");
        return;
      }
      body.window = { level: l, width: wd };
    }
    setBusy(true);
    try {
      setP(await api.policy.update(props.slug, body));
      notify("success", "Reading policy saved.", 2500);
    } catch (err) {
      setError(toApiError(err).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel" onSubmit={(e) => void submit(e)} aria-labelledby="policy-title">
      <div class="panel__header">
        <h2 id="policy-title">Reading policy</h2>
      </div>
      <div class="form-grid form-grid--policy">
        <label class="field field--narrow">
          <span>Readers per case</span>
          <input
            class="input"
            type="number"
            min={1}
            max={20}
            value={p.readers_per_case}
            aria-label="Readers per case"
            onInput={(e) => set("readers_per_case", Math.max(1, Math.min(20, Math.round(Number(e.currentTarget.value) || 1))))}
          />
        </label>
        <label class="field">
          <span>Consensus method</span>
          <select class="select select--wide" aria-label="Consensus method" value={p.consensus_method} onChange={(e) => set("consensus_method", e.currentTarget.value as ConsensusMethod)}>
            {CONSENSUS_METHODS.map((m) => (
              <option key={m.value} value={m.value}>
                {m.text}
              </option>
            ))}
          </select>
        </label>
      </div>
      <label class="checkbox">
        <input type="checkbox" checked={p.blind} onChange={(e) => set("blind", e.currentTarget.checked)} />
        <span>
          Blind reading <span class="muted small">— readers of a case do not see each other's work until all have submitted</span>
        </span>
      </label>
      <label class="checkbox">
        <input type="checkbox" checked={p.review_stage} onChange={(e) => set("review_stage", e.currentTarget.checked)} />
        <span>
          Review stage <span class="muted small">— submitted cases go to reviewers, who build and sign the consensus</span>
        </span>
      </label>
      <label class="checkbox">
        <input type="checkbox" checked={p.require_signoff_for_export} onChange={(e) => set("require_signoff_for_export", e.currentTarget.checked)} />
        <span>
          Require sign-off before export <span class="muted small">— only signed annotations leave the platform</span>
        </span>
      </label>
      <fieldset class="fieldset">
        <legend>CT window for the AI model (optional)</legend>
        <div class="form-grid">
          <label class="field field--narrow">
            <span>Level (HU)</span>
            <input class="input" type="number" value={level} placeholder="40" aria-label="Window level" onInput={(e) => setLevel(e.currentTarget.value)} />
          </label>
          <label class="field field--narrow">
            <span>Width (HU)</span>
            <input class="input" type="number" value={width} placeholder="400" aria-label="Window width" onInput={(e) => setWidth(e.currentTarget.value)} />
          </label>
        </div>
      </fieldset>
      {error && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <button class="button button--primary" type="submit" disabled={busy}>
          {busy ? <Spinner size={14} /> : <Save size={16} />} Save policy
        </button>
      </div>
    </form>
  );
}
