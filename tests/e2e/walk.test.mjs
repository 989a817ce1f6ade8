/**
 * One reader's walk through the browser app against the real platform (PostgreSQL, Redis, Celery
 * workers, LiteMedSAM on CPU): log in, upload a colour photo and view it, open the demo CT, scroll,
 * window/level, box prompt -> proposal -> accept, clicks (+/-) with multimask, brush/eraser, undo/redo,
 * propagate (cancel, then complete) with progress, help, log out.
 * A screenshot per step lands in tests/e2e/artifacts/.
 *
 * Run: `make test-e2e` (or `node --test tests/e2e/walk.test.mjs`). E2E_BASE_URL=http://... reuses a
 * running platform instead of starting one (for development).
 */

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { ARTIFACTS, startPlatform } from "./harness.mjs";
import { encodePng } from "./png.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const PASSWORD = "demo-password-1";
// The first prompt on a slice computes its embedding on CPU (about 2 s alone; more on a busy machine).
const MODEL_TIMEOUT = 60_000;

let platform;
let browser;
let page;
const problems = [];
let shot = 0;

async function snap(name) {
  shot += 1;
  const file = path.join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Page coordinates of an image point, for a viewer that is fitted to its canvas (12 px margin). */
async function imagePoint(x, y) {
  const box = await page.getByTestId("viewer-canvas").boundingBox();
  const scale = Math.min((box.width - 24) / 512, (box.height - 24) / 512);
  return {
    x: box.x + (box.width - 512 * scale) / 2 + x * scale,
    y: box.y + (box.height - 512 * scale) / 2 + y * scale,
  };
}

async function dragImage(from, to, options = {}) {
  const a = await imagePoint(from[0], from[1]);
  const b = await imagePoint(to[0], to[1]);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down(options);
  const steps = 8;
  for (let i = 1; i <= steps; i++) {
    await page.mouse.move(a.x + ((b.x - a.x) * i) / steps, a.y + ((b.y - a.y) * i) / steps);
  }
  await page.mouse.up(options);
}

const sliceText = () => page.getByTestId("slice-indicator").innerText();
const windowText = () => page.getByTestId("window-readout").innerText();
const undoTitle = () => page.getByRole("button", { name: "Undo" }).getAttribute("title");

before(async () => {
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  platform = process.env.E2E_BASE_URL ? { base: process.env.E2E_BASE_URL, close: async () => {} } : await startPlatform();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    // A 401/403 from /api/auth/me/ before login is how the app learns it is signed out.
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) problems.push(msg.text());
  });
});

after(async () => {
  await browser?.close();
  await platform?.close();
});

test("log in as reader1 and see the projects", async () => {
  await page.goto(`${platform.base}/`);
  await page.getByLabel("Username").fill("reader1");
  await page.getByLabel("Password").fill("wrong-password-0");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").filter({ hasText: "Wrong username or password" }).waitFor();
  await page.getByLabel("Password").fill(PASSWORD);
  await snap("login");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("current-user").filter({ hasText: "reader1" }).waitFor();
  await page.getByRole("link", { name: /Demo: abdominal CT/ }).waitFor();
  await snap("projects");
});

test("upload a colour image with a progress bar, then view it", async () => {
  await page.getByRole("link", { name: /Demo: abdominal CT/ }).click();
  await page.getByRole("link", { name: "Upload studies" }).click();
  // A dermatoscopy-like RGB photo: a reddish disc on skin tone (2D colour images go through the same viewer).
  const png = encodePng(160, 120, (x, y) =>
    (x - 80) ** 2 + (y - 60) ** 2 < 35 ** 2 ? [150, 60 + (x % 7), 50] : [225, 190 - (y % 11), 160],
  );
  const file = path.join(ARTIFACTS, "upload-photo.png");
  fs.writeFileSync(file, png);
  await page.getByLabel("Files to upload").setInputFiles(file);
  await page.getByRole("checkbox").check();
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  const result = page.getByRole("region", { name: "Upload result" });
  await result.waitFor({ timeout: 60_000 });
  assert.match(await result.innerText(), /New instances\s*1/);
  await snap("upload-done");
  await result.getByRole("link", { name: /Open series/ }).first().click();
  await page.getByTestId("cache-status").filter({ hasText: "1 / 1 slices" }).waitFor({ timeout: 30_000 });
  assert.equal(await sliceText(), "Slice 1 / 1");
  const box = await page.getByTestId("viewer-canvas").boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  assert.match(await page.getByTestId("cursor-value").innerText(), /^RGB \d+ \d+ \d+$/);
  await snap("colour-image");
});

test("open the demo series in the viewer", async () => {
  await page.getByRole("link", { name: /Demo: abdominal CT/ }).first().click();
  await page.getByRole("link", { name: "Open viewer" }).and(page.locator("[data-modality='CT']")).first().click();
  await page.getByTestId("viewer-canvas").waitFor();
  assert.equal(await sliceText(), "Slice 10 / 20");
  // Progressive fetch: every slice of this small series ends up in memory.
  await page.getByTestId("cache-status").filter({ hasText: "20 / 20 slices" }).waitFor({ timeout: 30_000 });
  const centre = await imagePoint(256, 256);
  await page.mouse.move(centre.x, centre.y);
  assert.match(await page.getByTestId("cursor-value").innerText(), /-?\d+ HU/);
  assert.match(await page.getByTestId("cursor-mm").innerText(), /\(.+, .+, .+\) mm/);
  await snap("viewer");
});

test("scroll slices with the wheel, keys and slider", async () => {
  const centre = await imagePoint(256, 256);
  await page.mouse.move(centre.x, centre.y);
  for (let i = 0; i < 3; i++) {
    await page.mouse.wheel(0, 100);
    await page.waitForTimeout(40);
  }
  assert.equal(await sliceText(), "Slice 13 / 20");
  await page.keyboard.press("ArrowUp");
  assert.equal(await sliceText(), "Slice 12 / 20");
  await page.getByRole("slider", { name: "Slice" }).fill("11");
  assert.equal(await sliceText(), "Slice 11 / 20");
  await page.keyboard.press("End");
  assert.equal(await sliceText(), "Slice 20 / 20");
  await page.getByTestId("viewer-canvas").focus();
  await page.keyboard.press("Home");
  await page.keyboard.press("PageDown");
  assert.equal(await sliceText(), "Slice 11 / 20");
  await snap("scrolled");
});

test("window/level by right-drag and presets", async () => {
  await page.keyboard.press("1");
  assert.equal(await windowText(), "W 400 · L 40");
  await dragImage([200, 200], [300, 260], { button: "right" });
  const dragged = await windowText();
  assert.notEqual(dragged, "W 400 · L 40");
  await snap("window-dragged");
  await page.keyboard.press("2");
  assert.equal(await windowText(), "W 1500 · L -600");
  await snap("window-lung");
  await page.keyboard.press("1");
  assert.equal(await windowText(), "W 400 · L 40");
});

test("box prompt: a proposal arrives and is painted at once; accept it", async () => {
  await page.keyboard.press("a");
  // The liver, on the left of the image (the patient's right).
  await dragImage([75, 190], [250, 390]);
  await page.getByTestId("prompt-pending").waitFor({ state: "visible", timeout: 5_000 }).catch(() => undefined);
  const bar = page.getByTestId("proposal-bar");
  await bar.waitFor({ timeout: MODEL_TIMEOUT });
  const paintMs = Number(await page.getByTestId("viewer-canvas").getAttribute("data-proposal-paint-ms"));
  assert.ok(paintMs < 50, `the proposal took ${paintMs} ms to paint`);
  await snap("proposal");
  await bar.getByRole("button", { name: "Accept" }).click();
  await page.getByTestId("annotated-slices").filter({ hasText: "Annotated on 1 slice" }).waitFor();
  assert.equal(await undoTitle(), "Undo accept proposal (Ctrl+Z)");
  await snap("accepted");
});

test("click prompts (+/-), several candidate masks, reject", async () => {
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("s");
  await page.getByRole("button", { name: "Several candidate masks" }).click();
  const inLiver = await imagePoint(150, 300);
  await page.mouse.click(inLiver.x, inLiver.y);
  const bar = page.getByTestId("proposal-bar");
  await bar.waitFor({ timeout: MODEL_TIMEOUT });
  const candidates = bar.getByRole("radio");
  await candidates.first().waitFor();
  assert.equal(await candidates.count(), 3);
  await page.keyboard.press("m");
  assert.equal(await candidates.nth(1).getAttribute("aria-checked"), "true");
  // A negative click (Shift) outside the organ refines the same prompt.
  const outside = await imagePoint(300, 300);
  await page.keyboard.down("Shift");
  await page.mouse.click(outside.x, outside.y);
  await page.keyboard.up("Shift");
  await page.getByTestId("prompt-pending").waitFor({ state: "detached", timeout: MODEL_TIMEOUT });
  await bar.waitFor();
  await snap("click-prompts-multimask");
  await page.keyboard.press("Escape");
  await bar.waitFor({ state: "detached" });
  await page.getByRole("button", { name: "Several candidate masks" }).click();
  await page.keyboard.press("ArrowUp");
});

test("brush correction with undo and redo", async () => {
  await page.keyboard.press("b");
  for (let i = 0; i < 3; i++) await page.keyboard.press("]");
  // Extend the outline along the liver's medial edge.
  await dragImage([238, 250], [246, 300]);
  assert.equal(await undoTitle(), "Undo brush (Ctrl+Z)");
  await snap("brushed");
  await page.keyboard.press("Control+z");
  assert.equal(await undoTitle(), "Undo accept proposal (Ctrl+Z)");
  assert.equal(await page.getByRole("button", { name: "Redo" }).isEnabled(), true);
  await snap("undone");
  await page.keyboard.press("Control+Shift+z");
  assert.equal(await undoTitle(), "Undo brush (Ctrl+Z)");
  await page.keyboard.press("e");
  await dragImage([100, 330], [120, 345]);
  assert.equal(await undoTitle(), "Undo eraser (Ctrl+Z)");
  await page.keyboard.press("h");
  await snap("redone-erased");
});

test("propagate through the volume with progress", async () => {
  await page.keyboard.press("a");
  await dragImage([75, 190], [250, 390]);
  await page.getByTestId("proposal-bar").waitFor({ timeout: MODEL_TIMEOUT });
  const current = Number((await sliceText()).match(/Slice (\d+)/)[1]);
  // First a long run, cancelled while it works.
  await page.getByLabel("First slice").fill("1");
  await page.getByLabel("Last slice").fill("20");
  await page.getByLabel("Last slice").press("Tab");
  await page.getByRole("button", { name: "Propagate" }).click();
  await page.getByRole("progressbar", { name: "Propagation progress" }).waitFor({ timeout: 10_000 });
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.getByTestId("propagation-message").filter({ hasText: "Propagation cancelled" }).waitFor({ timeout: 60_000 });
  await snap("propagation-cancelled");
  // Then three slices around the box, to the end.
  await page.getByLabel("First slice").fill(String(current - 1));
  await page.getByLabel("Last slice").fill(String(current + 1));
  await page.getByLabel("Last slice").press("Tab");
  await page.getByRole("button", { name: "Propagate" }).click();
  await page.getByRole("progressbar", { name: "Propagation progress" }).waitFor({ timeout: 10_000 });
  await snap("propagating");
  const message = page.getByTestId("propagation-message");
  await message.filter({ hasText: /Proposed on \d+ slice/ }).waitFor({ timeout: 120_000 });
  const bar = page.getByTestId("proposal-bar");
  assert.match(await bar.innerText(), /Propagated on \d+ slices/);
  await snap("propagated");
  await page.keyboard.press("Enter");
  await page.getByTestId("annotated-slices").filter({ hasText: /Annotated on [3-9] slices/ }).waitFor();
  await page.keyboard.press("ArrowDown");
  await snap("propagation-accepted");
});

test("keyboard help overlay", async () => {
  await page.keyboard.press("?");
  const dialog = page.getByRole("dialog", { name: "Keyboard shortcuts" });
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Ctrl\+Shift\+Z/);
  await snap("help");
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
});

test("log out", async () => {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
  const me = await page.evaluate(async () => (await fetch("/api/auth/me/")).status);
  assert.ok(me === 401 || me === 403, `after logout /api/auth/me/ answered ${me}`);
  await snap("logged-out");
  assert.deepEqual(problems, [], "no script errors in the page");
});
