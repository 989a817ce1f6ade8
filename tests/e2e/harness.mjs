/**
 * Starts the whole platform for the e2e walk: `python -m backend.launcher run` on a free port with a
 * throw-away READINGROOM_VAR_DIR (embedded PostgreSQL/Redis there), or, when DATABASE_URL / REDIS_URL are
 * set (CI), a database of its own (`<name>_e2e`, recreated) and Redis database 15 (flushed), so the run
 * never touches other data. DEBUG is off, as in production. Stopped with SIGINT (the launcher then stops
 * its web server, workers and stores).
 */

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The demo users' password (`make run` and the e2e platform seed them). */
export const DEMO_PASSWORD = "demo-password-1";
export const ARTIFACTS = path.join(ROOT, "tests", "e2e", "artifacts");
const PYTHON = process.env.READINGROOM_PYTHON ?? path.join(ROOT, ".venv", "bin", "python");
const E2E_REDIS_DB = 15;

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function log(message) {
  process.stderr.write(`[e2e] ${message}\n`);
}

/** A database of our own on the given server, recreated empty. */
function e2eDatabaseUrl(url) {
  const u = new URL(url);
  const name = `${decodeURIComponent(u.pathname.replace(/^\//, "")) || "readingroom"}_e2e`;
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const script = [
    "import sys, psycopg",
    "admin, name = sys.argv[1], sys.argv[2]",
    "with psycopg.connect(admin, autocommit=True) as c:",
    "    c.execute(f'DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)')",
    "    c.execute(f'CREATE DATABASE \"{name}\"')",
  ].join("\n");
  const r = spawnSync(PYTHON, ["-c", script, admin.toString(), name], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`could not create the e2e database ${name}: ${r.stderr}`);
  u.pathname = `/${name}`;
  return u.toString();
}

function e2eRedisUrl(url) {
  const u = new URL(url);
  u.pathname = `/${E2E_REDIS_DB}`;
  const script = "import sys, redis; redis.Redis.from_url(sys.argv[1]).flushdb()";
  const r = spawnSync(PYTHON, ["-c", script, u.toString()], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`could not prepare Redis database ${E2E_REDIS_DB}: ${r.stderr}`);
  return u.toString();
}

async function waitHealthy(base, proc, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`the platform exited with code ${proc.exitCode} while starting`);
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.status === 200) return;
      last = `HTTP ${r.status} ${await r.text()}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${base}/healthz did not answer 200 within ${timeoutMs / 1000} s (${last})`);
}

/** `logFile`: where the platform's output goes, relative to ARTIFACTS (each test file keeps its own). */
export async function startPlatform({ logFile = "server.log" } = {}) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const varDir = fs.mkdtempSync(path.join(os.tmpdir(), "readingroom-e2e-"));
  const port = await freePort();
  const env = {
    ...process.env,
    READINGROOM_VAR_DIR: varDir,
    DEBUG: "0",
    SECRET_KEY: "e2e-only-secret-key-not-for-production-0123456789abcdefghijkl",
    ALLOWED_HOSTS: "127.0.0.1,localhost",
    SECURE_SSL_REDIRECT: "0",
    SESSION_COOKIE_SECURE: "0",
    CSRF_COOKIE_SECURE: "0",
    SECURE_HSTS_SECONDS: "0",
    // Embeddings are computed when a prompt needs them, so the walk's timing does not depend on a
    // background precompute competing for the two cores.
    SEGMENTATION_PRECOMPUTE_ON_INGEST: "0",
    LOG_LEVEL: "WARNING",
  };
  if (process.env.DATABASE_URL) env.DATABASE_URL = e2eDatabaseUrl(process.env.DATABASE_URL);
  if (process.env.REDIS_URL) env.REDIS_URL = e2eRedisUrl(process.env.REDIS_URL);
  const logPath = path.join(ARTIFACTS, logFile);
  fs.mkdirSync(path.dirname(logPath), { recursive: true });
  const out = fs.openSync(logPath, "w");
  const started = Date.now();
  const proc = spawn(PYTHON, ["-m", "backend.launcher", "run", "--host", "127.0.0.1", "--port", String(port)], {
    cwd: ROOT,
    env,
    stdio: ["ignore", out, out],
  });
  const base = `http://127.0.0.1:${port}`;
  log(`platform starting on ${base} (log: ${path.relative(ROOT, logPath)}, var: ${varDir})`);
  try {
    await waitHealthy(base, proc, 300_000);
  } catch (err) {
    await stop(proc);
    fs.rmSync(varDir, { recursive: true, force: true });
    throw err;
  }
  log(`platform healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return {
    base,
    async close() {
      await stop(proc);
      fs.closeSync(out);
      fs.rmSync(varDir, { recursive: true, force: true });
    },
  };
}

async function stop(proc) {
  if (proc.exitCode !== null) return;
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill("SIGINT");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  await exited;
  clearTimeout(timer);
}

/**
 * A signed-in API client for seeding through the platform's own API, as the browser app does it: the
 * session cookie, and the CSRF token (cookie + X-CSRFToken header) on unsafe methods. Failed requests throw
 * with the server's error body, so a broken seed step says what went wrong.
 */
export async function apiSession(base, username, password) {
  const cookies = new Map();
  const keep = (response) => {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  };
  async function call(method, url, body, { idempotencyKey } = {}) {
    const headers = { Accept: "application/json", Cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") };
    if (!["GET", "HEAD"].includes(method)) headers["X-CSRFToken"] = cookies.get("csrftoken") ?? "";
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    let payload;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(`${base}${url}`, { method, headers, body: payload });
    keep(response);
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${url} as ${username}: HTTP ${response.status} ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : undefined;
  }
  await call("GET", "/api/auth/csrf/");
  await call("POST", "/api/auth/login/", { username, password });
  return {
    username,
    get: (url) => call("GET", url),
    post: (url, body, options) => call("POST", url, body, options),
    put: (url, body) => call("PUT", url, body),
    /** Multipart upload of in-memory files ([{name, bytes, type}]) with extra form fields. */
    upload: (url, files, fields = {}) => {
      const form = new FormData();
      for (const f of files) form.append("files", new Blob([f.bytes], { type: f.type ?? "application/octet-stream" }), f.name);
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      return call("POST", url, form);
    },
  };
}

/** Poll `check` (async, truthy when done) every `everyMs` until it is done or `timeoutMs` passes. */
export async function waitFor(what, check, { timeoutMs = 60_000, everyMs = 500 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/** Log in through the login page and wait until the app shows the user. */
export async function loginAs(page, base, user, password) {
  await page.goto(`${base}/`);
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("current-user").filter({ hasText: user }).waitFor();
}

export async function logOut(page) {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
}

/** Debian's chromium (or CHROMIUM_PATH), headless, without the background traffic that adds noise. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}
