/** The keyboard shortcut sheet ("?"). */

import { X } from "lucide-preact";
import { Fragment } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { useStore } from "../state/store";
import type { ViewerController } from "./controller";
import { SHORTCUTS } from "./shortcuts";

export function HelpOverlay(props: { controller: ViewerController }) {
  const c = props.controller;
  const open = useStore(c.state, (v) => v.helpOpen);
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open) closeRef.current?.focus();
  }, [open]);
  if (!open) return null;
  return (
    <div class="modal-backdrop" onClick={() => c.toggleHelp(false)}>
      <div
        class="modal modal--wide"
        role="dialog"
        aria-modal="true"
        aria-labelledby="help-title"
        onClick={(e) => e.stopPropagation()}
      >
        <div class="modal__header">
          <h2 id="help-title">Keyboard shortcuts</h2>
          <button ref={closeRef} class="icon-button" aria-label="Close" onClick={() => c.toggleHelp(false)}>
            <X size={18} />
          </button>
        </div>
        <div class="shortcuts">
          {SHORTCUTS.map((g) => (
            <section key={g.title}>
              <h3>{g.title}</h3>
              <dl>
                {g.items.map((item) => (
                  <div class="shortcut" key={item.action}>
                    <dt>
                      {item.keys.map((k, i) => (
                        <Fragment key={k}>
                          {i > 0 && <span class="muted"> / </span>}
                          <kbd>{k}</kbd>
                        </Fragment>
                      ))}
                    </dt>
                    <dd>{item.action}</dd>
                  </div>
                ))}
              </dl>
            </section>
          ))}
        </div>
      </div>
    </div>
  );
}
