/** A minimal observable value and a hook to read it in components (re-render only when the slice changes). */

import { useEffect, useRef, useState } from "preact/hooks";

type Listener = () => void;

export class Store<T> {
  private listeners = new Set<Listener>();

  constructor(private value: T) {}

  get(): T {
    return this.value;
  }

  set(next: T): void {
    if (Object.is(next, this.value)) return;
    this.value = next;
    for (const l of [...this.listeners]) l();
  }

  /** Shallow-merge into an object value. */
  update(this: Store<T>, partial: Partial<T>): void {
    let changed = false;
    for (const k of Object.keys(partial) as Array<keyof T>) {
      if (!Object.is(partial[k], this.value[k])) changed = true;
    }
    if (changed) this.set({ ...this.value, ...partial });
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

function shallowEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || !a || !b || Array.isArray(a) !== Array.isArray(b)) {
    return false;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.is((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Subscribe a component to `select(store value)`; it re-renders when the selection changes (shallowly). */
export function useStore<T, S = T>(store: Store<T>, select: (value: T) => S = (v) => v as unknown as S): S {
  const [, force] = useState(0);
  const selected = useRef<S>(select(store.get()));
  const selectRef = useRef(select);
  selectRef.current = select;
  selected.current = select(store.get());
  useEffect(() => {
    const check = () => {
      const next = selectRef.current(store.get());
      if (!shallowEqual(next, selected.current)) {
        selected.current = next;
        force((n) => n + 1);
      }
    };
    check();
    return store.subscribe(check);
  }, [store]);
  return selected.current;
}
