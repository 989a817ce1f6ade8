import { useState } from "preact/hooks";
import { toApiError } from "../api/client";
import { Spinner } from "../components/ui";
import { login } from "../state/session";

export function LoginPage() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!username || !password) {
      setError("Enter your username and password.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await login(username.trim(), password);
    } catch (err) {
      setError(toApiError(err).message);
      setBusy(false);
    }
  };

  return (
    <div class="login">
      <form class="login__card" onSubmit={submit} aria-labelledby="login-title">
        <div class="login__brand">
          <span class="brand__mark brand__mark--large" aria-hidden="true" />
          <div>
            <h1 id="login-title">ReadingRoom</h1>
            <p class="muted">Medical image annotation</p>
          </div>
        </div>
        <label class="field">
          <span>Username</span>
          <input
            name="username"
            autoComplete="username"
            autoFocus
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          <span>Password</span>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {error && (
          <div class="form-error" role="alert">
            {error}
          </div>
        )}
        <button class="button button--primary button--block" type="submit" disabled={busy}>
          {busy ? <Spinner /> : null} Log in
        </button>
      </form>
    </div>
  );
}
