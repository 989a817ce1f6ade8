/** The signed-in user, shared by the shell and the pages. */

import { api, onSessionLost, toApiError } from "../api/client";
import type { User } from "../api/types";
import { Store } from "./store";

export interface SessionState {
  status: "unknown" | "signed-in" | "signed-out";
  user: User | null;
}

export const session = new Store<SessionState>({ status: "unknown", user: null });

export async function loadSession(): Promise<void> {
  try {
    const user = await api.auth.me();
    session.set({ status: "signed-in", user });
  } catch (err) {
    const e = toApiError(err);
    if (e.isAuth || e.status === 403) session.set({ status: "signed-out", user: null });
    else throw e;
  }
}

export async function login(username: string, password: string): Promise<User> {
  await api.auth.csrf();
  const user = await api.auth.login(username, password);
  session.set({ status: "signed-in", user });
  return user;
}

export async function logout(): Promise<void> {
  try {
    await api.auth.logout();
  } finally {
    session.set({ status: "signed-out", user: null });
  }
}

onSessionLost(() => {
  if (session.get().status === "signed-in") session.set({ status: "signed-out", user: null });
});
