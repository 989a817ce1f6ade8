/**
 * The annotation's side of the viewer: save status with Save and Submit (title bar), who else is here
 * (presence), the connection banner over the image, the conflict dialog (409) and the submit dialog.
 */

import { CircleAlert, CloudOff, Save, Send, ShieldCheck, Users, Wifi, WifiOff } from "lucide-preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { ImageRoom } from "../api/room";
import type { Task } from "../api/types";
import { Spinner } from "../components/ui";
import { Modal } from "../components/Modal";
import { useStore } from "../state/store";
import type { ViewerController } from "./controller";
import { describeSave } from "./saveState";
import type { AnnotationSession } from "./session";

export function SaveControls(props: { session: AnnotationSession; onSubmitted: () => void }) {
  const s = props.session;
  const st = useStore(s.state, (v) => ({
    status: v.status,
    head: v.head,
    dirty: v.dirtyFrames,
    kind: v.kind,
    submitting: v.submitting,
    loaded: v.loaded,
    signed: v.annotation?.signed_version ?? null,
  }));
  const [confirm, setConfirm] = useState(false);
  const d = describeSave({ status: st.status, head: st.head, dirtyFrames: st.dirty });
  const saving = st.status.kind === "saving";
  const canEdit = st.kind === "read" || st.kind === "consensus";
  const locked = st.status.kind === "readonly" || st.status.kind === "loading" || st.status.kind === "conflict";
  return (
    <div class="savebar" data-testid="save-bar">
      {st.signed !== null && (
        <span
          class={`status ${st.head === st.signed ? "status--ok" : "status--warn"}`}
          title={st.head === st.signed ? "This version is signed; a saved edit becomes an unsigned amendment" : `Version ${st.signed} was signed; this is an amendment`}
        >
          <ShieldCheck size={12} /> {st.head === st.signed ? "Signed" : `Amended (signed v${st.signed})`}
        </span>
      )}
      <span class={`savebar__status savebar__status--${d.tone}`} data-testid="save-status" role="status">
        {saving && <Spinner size={14} />}
        {st.status.kind === "offline" && <CloudOff size={14} />}
        {st.status.kind === "loading" && st.loaded ? `Loading ${st.loaded.done}/${st.loaded.total} slices…` : d.text}
      </span>
      {canEdit && !locked && (
        <button
          class="button button--small"
          onClick={() => void s.save()}
          disabled={saving || st.dirty === 0}
          title="Save a new version (Ctrl+S)"
        >
          <Save size={14} /> Save
        </button>
      )}
      {st.kind === "read" && !locked && (
        <button
          class="button button--small button--primary"
          onClick={() => setConfirm(true)}
          disabled={st.submitting || saving || (st.head === 0 && st.dirty === 0)}
          title={st.head === 0 && st.dirty === 0 ? "Draw and save a mask first" : "Submit the read for review"}
        >
          <Send size={14} /> Submit
        </button>
      )}
      {confirm && (
        <SubmitDialog
          dirty={st.dirty}
          busy={st.submitting}
          onCancel={() => setConfirm(false)}
          onConfirm={async () => {
            const ok = await s.submit();
            setConfirm(false);
            if (ok) props.onSubmitted();
          }}
        />
      )}
    </div>
  );
}

function SubmitDialog(props: { dirty: number; busy: boolean; onCancel: () => void; onConfirm: () => void }) {
  return (
    <Modal title="Submit this read?" onClose={props.onCancel}>
      <div class="modal__body">
        <p>
          The read goes to the review queue and is locked: you can edit it again only if a reviewer returns it to
          you.
        </p>
        {props.dirty > 0 && (
          <p class="muted small">
            Unsaved changes on {props.dirty} slice{props.dirty === 1 ? "" : "s"} are saved first.
          </p>
        )}
      </div>
      <div class="modal__footer">
        <button class="button" onClick={props.onCancel} disabled={props.busy}>
          Keep reading
        </button>
        <button class="button button--primary" onClick={props.onConfirm} disabled={props.busy}>
          {props.busy ? <Spinner size={14} /> : <Send size={14} />} Submit for review
        </button>
      </div>
    </Modal>
  );
}

/** Others in this image: avatars in their colour, with the slice they are on. */
export function Presence(props: { room: ImageRoom; controller: ViewerController }) {
  const peers = useStore(props.room.state, (v) => v.peers);
  const status = useStore(props.room.state, (v) => v.status);
  return (
    <div class="presence" data-testid="presence">
      <span
        class={`presence__conn presence__conn--${status}`}
        title={status === "open" ? "Live: connected to the image room" : "Not connected: working offline"}
        data-testid="connection-status"
        data-status={status}
      >
        {status === "open" ? <Wifi size={14} /> : <WifiOff size={14} />}
        {status === "open" ? "Live" : status === "connecting" ? "Connecting" : "Offline"}
      </span>
      {peers.length > 0 && <Users size={14} class="muted" aria-hidden="true" />}
      {peers.map((p) => (
        <button
          key={p.user.id}
          class="avatar avatar--peer"
          style={{ background: p.user.color }}
          title={`${p.user.username} is on slice ${p.slice + 1}: go there`}
          aria-label={`${p.user.username}, slice ${p.slice + 1}`}
          onClick={() => props.controller.setSlice(p.slice)}
        >
          {p.user.username.slice(0, 1).toUpperCase()}
          <span class="avatar__slice">{p.slice + 1}</span>
        </button>
      ))}
    </div>
  );
}

/** Over the image while the room is down: what happens to edits, and when it retries. */
export function ConnectionBanner(props: { room: ImageRoom; session: AnnotationSession }) {
  const r = useStore(props.room.state, (v) => ({ status: v.status, retryAt: v.retryAt, denied: v.deniedReason }));
  const dirty = useStore(props.session.state, (v) => v.dirtyFrames);
  const [, tick] = useState(0);
  useEffect(() => {
    if (!r.retryAt) return;
    const t = setInterval(() => tick((n) => n + 1), 500);
    return () => clearInterval(t);
  }, [r.retryAt]);
  if (r.status === "open" || r.status === "connecting" || r.status === "closed") return null;
  if (r.status === "denied") {
    return (
      <div class="banner banner--error" role="alert" data-testid="connection-banner">
        <CircleAlert size={16} /> {r.denied}
      </div>
    );
  }
  const secs = r.retryAt ? Math.max(0, Math.ceil((r.retryAt - Date.now()) / 1000)) : 0;
  return (
    <div class="banner banner--warn" role="status" data-testid="connection-banner">
      <WifiOff size={16} />
      <span>
        <strong>{r.status === "offline" ? "You are offline." : "Connection lost."}</strong>{" "}
        {r.retryAt && secs > 0 ? `Reconnecting in ${secs} s…` : "Reconnecting…"}{" "}
        {dirty > 0
          ? `Your edits on ${dirty} slice${dirty === 1 ? "" : "s"} are kept on this page and saved when the connection is back.`
          : "Your work is kept on this page; the AI tools use plain requests meanwhile."}
      </span>
      <button class="button button--small" onClick={() => props.room.retryNow()}>
        Retry now
      </button>
    </div>
  );
}

/** Shown while a save met a newer version (409): the user chooses whose version to keep. */
export function ConflictDialog(props: { session: AnnotationSession }) {
  const st = useStore(props.session.state, (v) => ({ status: v.status, dirty: v.dirtyFrames }));
  const [busy, setBusy] = useState(false);
  const keepRef = useRef<HTMLButtonElement>(null);
  useEffect(() => keepRef.current?.focus(), [st.status.kind]);
  if (st.status.kind !== "conflict") return null;
  const c = st.status;
  const choose = async (choice: "reload" | "keep") => {
    setBusy(true);
    try {
      await props.session.resolveConflict(choice);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="This annotation changed while you were editing" onClose={null} testid="conflict-dialog">
      <div class="modal__body">
        <p>
          You edited version {c.base}, but version {c.current} was saved {c.by ? `by ${c.by}` : "elsewhere"} in the
          meantime (another tab or window, or a colleague on a shared consensus). Your edits on {st.dirty} slice
          {st.dirty === 1 ? "" : "s"} are still here, unsaved.
        </p>
        <ul class="choice-list">
          <li>
            <strong>Keep mine as a new version</strong>: your edited slices are saved on top of version {c.current}{" "}
            as version {c.current + 1}; slices you did not touch keep version {c.current}'s masks.
          </li>
          <li>
            <strong>Reload theirs</strong>: load version {c.current} and discard your unsaved edits.
          </li>
        </ul>
      </div>
      <div class="modal__footer">
        <button class="button" onClick={() => void choose("reload")} disabled={busy}>
          Reload theirs
        </button>
        <button ref={keepRef} class="button button--primary" onClick={() => void choose("keep")} disabled={busy}>
          {busy ? <Spinner size={14} /> : <Save size={14} />} Keep mine as a new version
        </button>
      </div>
    </Modal>
  );
}

/** Above the image for a returned read: the reviewer's comment. */
export function TaskNotice(props: { task: Task | null }) {
  const t = props.task;
  if (!t || t.status !== "returned" || !t.return_comment) return null;
  return (
    <div class="banner banner--info banner--static" role="note" data-testid="return-comment">
      <CircleAlert size={16} />
      <span>
        <strong>Returned by the reviewer:</strong> {t.return_comment}
      </span>
    </div>
  );
}

/** A newer version arrived while this page has unsaved edits. */
export function RemoteNotice(props: { session: AnnotationSession }) {
  const text = useStore(props.session.state, (v) => v.remoteNotice);
  if (!text) return null;
  return (
    <div class="banner banner--info banner--static" role="status" data-testid="remote-notice">
      <CircleAlert size={16} />
      <span>{text}</span>
    </div>
  );
}
