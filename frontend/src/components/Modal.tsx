/** A modal dialog: title, body and footer from children; Escape and the backdrop close it when it may be closed. */

import type { ComponentChildren } from "preact";
import { X } from "lucide-preact";
import { useEffect, useId, useRef } from "preact/hooks";

export function Modal(props: {
  title: string;
  /** null: the dialog must be answered (no close button, Escape does nothing). */
  onClose: (() => void) | null;
  children: ComponentChildren;
  wide?: boolean;
  testid?: string;
}) {
  const id = useId();
  const ref = useRef<HTMLDivElement>(null);
  const onClose = props.onClose;
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>("input, select, textarea, button.button--primary, button");
    first?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && onClose) {
        e.stopPropagation();
        e.preventDefault();
        onClose();
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => {
      window.removeEventListener("keydown", onKey, true);
      previous?.focus?.({ preventScroll: true });
    };
  }, []);
  return (
    <div class="modal-backdrop" onClick={() => onClose?.()}>
      <div
        ref={ref}
        class={`modal${props.wide ? " modal--wide" : ""}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={id}
        data-testid={props.testid}
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => e.stopPropagation()}
      >
        <div class="modal__header">
          <h2 id={id}>{props.title}</h2>
          {onClose && (
            <button class="icon-button" aria-label="Close" onClick={onClose}>
              <X size={18} />
            </button>
          )}
        </div>
        {props.children}
      </div>
    </div>
  );
}
