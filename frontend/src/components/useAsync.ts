/** Load data for a page: {status, data, error, reload}. Errors are kept as words for the page to show. */

import { useCallback, useEffect, useState } from "preact/hooks";
import { type ApiError, toApiError } from "../api/client";

export type AsyncState<T> =
  | { status: "loading"; data: undefined; error: null }
  | { status: "ready"; data: T; error: null }
  | { status: "error"; data: undefined; error: ApiError };

export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): AsyncState<T> & { reload: () => void } {
  const [state, setState] = useState<AsyncState<T>>({ status: "loading", data: undefined, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState({ status: "loading", data: undefined, error: null });
    load().then(
      (data) => live && setState({ status: "ready", data, error: null }),
      (err: unknown) => live && setState({ status: "error", data: undefined, error: toApiError(err) }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}
