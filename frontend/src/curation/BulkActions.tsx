/** Bulk actions on the selected rows: tag, flag, exclude, assign a reader, add series as cases, note. */

import { Play } from "lucide-preact";
import { useState } from "preact/hooks";
import { type ApiError, api, toApiError } from "../api/client";
import type { BulkAction, BulkResult, CurationTarget, FlagKind, Member, TagCount } from "../api/types";
import { Spinner } from "../components/ui";
import { notify } from "../state/notify";
import { QUALITY_FLAGS, actionsFor, describeResult } from "./bulk";

export function BulkActions(props: {
  slug: string;
  target: CurationTarget;
  selected: number[];
  members: Member[];
  tags: TagCount[];
  onDone: (result: BulkResult) => void;
}) {
  const available = actionsFor(props.target);
  const [action, setAction] = useState<BulkAction>(available[0]?.value ?? "tag");
  const current = available.some((a) => a.value === action) ? action : (available[0]?.value ?? "tag");
  const [tag, setTag] = useState("");
  const [kind, setKind] = useState<FlagKind>("motion_artefact");
  const [reason, setReason] = useState("");
  const [reader, setReader] = useState("");
  const [text, setText] = useState("");
  const [priority, setPriority] = useState("0");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [result, setResult] = useState<string>("");
  const readers = props.members.filter((m) => m.role !== "viewer");

  const params = (): Record<string, unknown> => {
    switch (current) {
      case "tag":
      case "untag":
        return { tag };
      case "flag":
        return { kind, reason };
      case "unflag":
        return { kinds: [kind] };
      case "exclude":
        return { reason };
      case "assign":
        return { user_id: reader ? Number(reader) : null };
      case "note":
        return { text };
      case "add_cases":
        return { priority: Number(priority) || 0 };
      default:
        return {};
    }
  };
  const apply = async () => {
    setBusy(true);
    setError(null);
    setResult("");
    try {
      const done = await api.curation.bulk(props.slug, { action: current, target: props.target, ids: props.selected, params: params() });
      const message = describeResult(done);
      setResult(message);
      notify("success", message);
      props.onDone(done);
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };

  if (available.length === 0) return null;
  return (
    <section class="panel bulk" aria-labelledby="bulk-title">
      <div class="bulk__row">
        <h2 id="bulk-title" class="bulk__title">
          Bulk actions
        </h2>
        <span class="muted small" data-testid="selection-count">
          {props.selected.length} selected
        </span>
        <select class="select" aria-label="Action" value={current} onChange={(e) => setAction(e.currentTarget.value as BulkAction)}>
          {available.map((a) => (
            <option key={a.value} value={a.value}>
              {a.text}
            </option>
          ))}
        </select>
        {(current === "tag" || current === "untag") && (
          <>
            <input class="input bulk__input" aria-label="Tag" placeholder="tag" list="bulk-tags" value={tag} onInput={(e) => setTag(e.currentTarget.value)} />
            <datalist id="bulk-tags">
              {props.tags.map((t) => (
                <option key={t.name} value={t.name} />
              ))}
            </datalist>
          </>
        )}
        {(current === "flag" || current === "unflag") && (
          <select class="select" aria-label="Flag kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as FlagKind)}>
            {QUALITY_FLAGS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.text}
              </option>
            ))}
          </select>
        )}
        {(current === "flag" || current === "exclude") && (
          <input
            class="input bulk__input bulk__input--wide"
            aria-label="Reason"
            placeholder={current === "exclude" ? "reason (required)" : "reason (optional)"}
            value={reason}
            onInput={(e) => setReason(e.currentTarget.value)}
          />
        )}
        {current === "assign" && (
          <select class="select" aria-label="Reader" value={reader} onChange={(e) => setReader(e.currentTarget.value)}>
            <option value="">Choose a reader…</option>
            {readers.map((m) => (
              <option key={m.user.id} value={String(m.user.id)}>
                {m.user.username} ({m.role})
              </option>
            ))}
          </select>
        )}
        {current === "note" && (
          <input class="input bulk__input bulk__input--wide" aria-label="Note" placeholder="note" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        )}
        {current === "add_cases" && (
          <label class="field field--inline small">
            priority
            <input class="input input--number" aria-label="Priority" value={priority} onInput={(e) => setPriority(e.currentTarget.value)} />
          </label>
        )}
        <button class="button button--primary button--small" onClick={() => void apply()} disabled={busy || props.selected.length === 0}>
          {busy ? <Spinner size={14} /> : <Play size={14} />} Apply to {props.selected.length}
        </button>
      </div>
      {result && (
        <p class="bulk__result status status--ok" role="status" data-testid="bulk-result">
          {result}
        </p>
      )}
      {error && (
        <p class="form-error" role="alert" data-testid="bulk-error">
          <strong class="mono">{error.code}</strong>: {error.message}
        </p>
      )}
    </section>
  );
}
