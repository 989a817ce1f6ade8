/**
 * The golden path through the browser app against the real platform (PostgreSQL, Redis, Celery workers,
 * LiteMedSAM on CPU), one browser, users taking turns:
 *   owner (demo): project settings: a SNOMED-coded "Liver" label, two readers per case, blind;
 *   reader1: log in, upload a colour photo and view it, "Start next case" opens the demo CT task, scroll,
 *     window/level, box prompt -> proposal (over the WebSocket) -> accept, clicks (+/-) with multimask,
 *     brush/eraser, undo/redo, propagate (cancel, then complete), save; a save from a second tab makes
 *     the first one's save stale (409: "keep mine as a new version"); offline: edits kept, banner, saved
 *     when back; submit;
 *   reader1: an unsaved stroke on the next case survives a reload (draft autosave restored);
 *   reader2: next case, box -> proposal -> accept, propagate, brush correction, save, submit;
 *   reviewer: review queue, agreement table and side-by-side/overlay, returns reader2's read with a
 *     comment; reader2 sees it, corrects, resubmits; reviewer: STAPLE consensus, export refused before
 *     sign-off, sign-off with the password (a wrong one first), DICOM SEG export downloaded and checked
 *     (preamble + "DICM" at byte 128), the signed consensus in the viewer, project export zip.
 * A screenshot per step lands in tests/e2e/artifacts/.
 *
 * Run: `make test-e2e` (or `node --test tests/e2e/walk.test.mjs`). E2E_BASE_URL=http://... reuses a
 * running platform instead of starting one (for development).
 */

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { ARTIFACTS, DEMO_PASSWORD, launchChromium, loginAs, logOut, startPlatform } from "./harness.mjs";
import { encodePng } from "./png.mjs";

const PASSWORD = DEMO_PASSWORD;
// The first prompt on a slice computes its embedding on CPU (about 2 s alone; more on a busy machine).
const MODEL_TIMEOUT = 60_000;

let platform;
let browser;
let context;
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
  // Other test files keep their artifacts in subfolders of their own (curation/).
  for (const entry of fs.existsSync(ARTIFACTS) ? fs.readdirSync(ARTIFACTS, { withFileTypes: true }) : []) {
    if (!entry.isDirectory()) fs.rmSync(path.join(ARTIFACTS, entry.name), { force: true });
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  platform = process.env.E2E_BASE_URL ? { base: process.env.E2E_BASE_URL, close: async () => {} } : await startPlatform();
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1, acceptDownloads: true });
  page = await context.newPage();
  watch(page);
});

function watch(p) {
  p.setDefaultTimeout(15_000);
  p.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  p.on("console", (msg) => {
    // A 401/403 from /api/auth/me/ before login is how the app learns it is signed out; a 409 is a
    // stale save the app explains; a dropped socket while offline is the point of that step.
    const text = msg.text();
    if (msg.type() !== "error" || text.startsWith("Failed to load resource")) return;
    if (/WebSocket connection .* failed/.test(text)) return;
    problems.push(text);
  });
}

const login = (user, password = PASSWORD) => loginAs(page, platform.base, user, password);
const logout = () => logOut(page);

const saveStatus = () => page.getByTestId("save-status");

after(async () => {
  await browser?.close();
  await platform?.close();
});

test("owner: labels with SNOMED codes and the reading policy in project settings", async () => {
  await login("demo");
  await page.getByRole("link", { name: /Demo: abdominal CT/ }).click();
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "Labels" }).waitFor();
  await page.getByLabel("New label type").selectOption({ label: "Liver" });
  assert.equal(await page.getByLabel("New label name").inputValue(), "Liver");
  await page.getByLabel("New label colour").fill("#e0573b");
  await page.getByRole("button", { name: "Add label" }).click();
  const table = page.getByRole("table", { name: "Labels" });
  await table.getByLabel("Liver name").waitFor();
  assert.equal(await table.getByLabel("Liver type").inputValue(), "SCT:10200004");
  await page.getByLabel("Readers per case").fill("2");
  await page.getByLabel("Consensus method").selectOption("staple");
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByText("Reading policy saved.").waitFor();
  const policy = await page.evaluate(async () => (await fetch("/api/projects/demo/policy/")).json());
  assert.equal(policy.readers_per_case, 2);
  await snap("owner-settings");
  await logout();
});

test("reader1 logs in and sees the projects", async () => {
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

test("My queue: start the next case opens the demo CT read", async () => {
  await page.getByRole("link", { name: /Demo: abdominal CT/ }).first().click();
  await page.getByRole("link", { name: "My queue" }).click();
  await page.getByRole("button", { name: "Start next case" }).waitFor();
  await snap("queue-empty");
  await page.getByRole("button", { name: "Start next case" }).click();
  await page.getByTestId("viewer-canvas").waitFor();
  assert.match(await page.getByTestId("viewer-context").innerText(), /Case \d+ · read [12]/);
  assert.equal(await sliceText(), "Slice 10 / 20");
  await saveStatus().filter({ hasText: "Nothing saved yet" }).waitFor();
  await page.getByTestId("connection-status").and(page.locator("[data-status='open']")).waitFor();
  // Progressive fetch: every slice of this small series ends up in memory.
  await page.getByTestId("cache-status").filter({ hasText: "20 / 20 slices" }).waitFor({ timeout: 30_000 });
  const centre = await imagePoint(256, 256);
  await page.mouse.move(centre.x, centre.y);
  assert.match(await page.getByTestId("cursor-value").innerText(), /-?\d+ HU/);
  assert.match(await page.getByTestId("cursor-mm").innerText(), /\(.+, .+, .+\) mm/);
  await snap("viewer-task");
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


test("save: a new version; autosave status in the title bar", async () => {
  assert.match(await saveStatus().innerText(), /Unsaved changes on \d+ slices/);
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await saveStatus().filter({ hasText: "All changes saved · version 1" }).waitFor();
  await snap("saved");
});

test("a stale save (409) is explained; 'keep mine' saves on top as a new version", async () => {
  // The same read open in a second tab saves while this tab has unsaved edits: this tab's save is stale.
  const other = await context.newPage();
  watch(other);
  await other.goto(page.url());
  await other.getByTestId("save-status").filter({ hasText: "All changes saved · version 1" }).waitFor();
  await other.getByTestId("cache-status").filter({ hasText: "20 / 20 slices" }).waitFor({ timeout: 30_000 });
  await page.bringToFront();
  await page.keyboard.press("b");
  await dragImage([238, 250], [240, 280]);
  assert.match(await saveStatus().innerText(), /Unsaved changes on 1 slice/);
  await other.bringToFront();
  await other.keyboard.press("ArrowDown");
  await other.keyboard.press("b");
  const box = await other.getByTestId("viewer-canvas").boundingBox();
  const scale = Math.min((box.width - 24) / 512, (box.height - 24) / 512);
  const x = box.x + (box.width - 512 * scale) / 2 + 200 * scale;
  const y = box.y + (box.height - 512 * scale) / 2 + 420 * scale;
  await other.mouse.move(x, y);
  await other.mouse.down();
  await other.mouse.move(x + 20, y + 5, { steps: 4 });
  await other.mouse.up();
  await other.keyboard.press("Control+s");
  await other.getByTestId("save-status").filter({ hasText: "All changes saved · version 2" }).waitFor();
  await other.close();
  await page.bringToFront();
  // The room pushed "version 2 saved" to this tab, which still holds its unsaved edit.
  await page.getByTestId("remote-notice").filter({ hasText: "Version 2 was saved elsewhere by reader1" }).waitFor();
  await page.getByRole("button", { name: "Save", exact: true }).click();
  const dialog = page.getByTestId("conflict-dialog");
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /version 2 was saved by reader1/);
  await snap("conflict");
  await dialog.getByRole("button", { name: "Keep mine as a new version" }).click();
  await dialog.waitFor({ state: "detached" });
  await saveStatus().filter({ hasText: "All changes saved · version 3" }).waitFor();
});

test("offline: the banner shows, edits are kept and saved when the connection is back", async () => {
  await context.setOffline(true);
  await page.evaluate(() => window.__readingroom.room.simulateDrop());
  await page.getByTestId("connection-banner").waitFor();
  await dragImage([236, 300], [240, 330]);
  await page.keyboard.press("Control+s");
  await saveStatus().filter({ hasText: "Offline: 1 slice kept here" }).waitFor();
  assert.match(await page.getByTestId("connection-banner").innerText(), /kept on this page/);
  await snap("offline");
  await context.setOffline(false);
  await page.getByTestId("connection-status").and(page.locator("[data-status='open']")).waitFor({ timeout: 30_000 });
  await saveStatus().filter({ hasText: "All changes saved · version 4" }).waitFor({ timeout: 30_000 });
  await page.getByTestId("connection-banner").waitFor({ state: "detached" });
});

test("reader1 submits the read", async () => {
  await page.getByRole("button", { name: "Submit", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Submit this read?" });
  await dialog.waitFor();
  await snap("submit-dialog");
  await dialog.getByRole("button", { name: "Submit for review" }).click();
  await page.getByRole("heading", { name: "Submitted" }).waitFor();
  const done = page.getByTestId("task-table");
  await done.getByText("Submitted").first().waitFor();
  await snap("queue-submitted");
});

test("autosave: an unsaved stroke survives a reload (draft restored)", async () => {
  // The next case is the uploaded photo (a second case of the project).
  await page.getByRole("button", { name: "Start next case" }).click();
  await page.getByTestId("viewer-canvas").waitFor();
  await saveStatus().filter({ hasText: "Nothing saved yet" }).waitFor();
  await page.keyboard.press("b");
  const box = await page.getByTestId("viewer-canvas").boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + 40, box.y + box.height / 2 + 10, { steps: 5 });
  await page.mouse.up();
  await saveStatus().filter({ hasText: "Unsaved changes on 1 slice" }).waitFor();
  await page.waitForTimeout(2500); // the draft autosave runs 1.5 s after the last edit
  page.once("dialog", (d) => d.accept()); // "leave with unsaved changes?"
  await page.reload();
  await page.getByText(/Restored unsaved work on 1 slice/).waitFor();
  await saveStatus().filter({ hasText: "Unsaved changes on 1 slice" }).waitFor();
  await snap("draft-restored");
  await logout();
});

test("reader2 reads the same case blind: box, proposal, brush, save, submit", async () => {
  await login("reader2");
  await page.goto(`${platform.base}/projects/demo/queue`);
  await page.getByRole("button", { name: "Start next case" }).click();
  await page.getByTestId("viewer-canvas").waitFor();
  assert.match(await page.getByTestId("viewer-context").innerText(), /read 2/);
  // Blind: nothing of reader1's work shows.
  await page.getByTestId("annotated-slices").filter({ hasText: "No slice annotated yet." }).waitFor();
  await page.getByTestId("cache-status").filter({ hasText: "20 / 20 slices" }).waitFor({ timeout: 30_000 });
  await page.keyboard.press("a");
  await dragImage([70, 185], [255, 395]);
  const bar = page.getByTestId("proposal-bar");
  await bar.waitFor({ timeout: MODEL_TIMEOUT });
  await bar.getByRole("button", { name: "Accept" }).click();
  // Like reader1: through the slices around the box (the accepted mask's extent is the start box).
  await page.getByLabel("First slice").fill("10");
  await page.getByLabel("Last slice").fill("12");
  await page.getByLabel("Last slice").press("Tab");
  await page.getByRole("button", { name: "Propagate" }).click();
  await page.getByTestId("propagation-message").filter({ hasText: /Proposed on \d+ slice/ }).waitFor({ timeout: 120_000 });
  await page.keyboard.press("Enter");
  await page.getByTestId("annotated-slices").filter({ hasText: /Annotated on [2-9] slices/ }).waitFor();
  await page.keyboard.press("b");
  await dragImage([232, 260], [238, 310]);
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await saveStatus().filter({ hasText: "All changes saved · version 1" }).waitFor();
  await snap("reader2-saved");
  await page.getByRole("button", { name: "Submit", exact: true }).click();
  await page.getByRole("dialog", { name: "Submit this read?" }).getByRole("button", { name: "Submit for review" }).click();
  await page.getByRole("heading", { name: "Submitted" }).waitFor();
  await logout();
});

test("reviewer: agreement and the reads side by side; a read goes back with a comment", async () => {
  await login("reviewer");
  await page.goto(`${platform.base}/projects/demo`);
  await page.getByRole("link", { name: "Review", exact: true }).click();
  const queue = page.getByTestId("review-table");
  await queue.waitFor();
  await snap("review-queue");
  await queue.getByRole("link", { name: "Review" }).first().click();
  const agreement = page.getByTestId("agreement-1");
  await agreement.waitFor({ timeout: 30_000 });
  const dice = Number((await agreement.locator("tbody tr").first().locator("td").nth(1).innerText()).trim());
  assert.ok(dice > 0.7 && dice <= 1, `Dice between the readers: ${dice}`);
  await page.getByRole("img", { name: /All reads overlaid/ }).waitFor();
  assert.equal(await page.getByTestId("compare").locator("figure").count(), 3);
  await snap("review-agreement");
  await page.getByRole("button", { name: "Return" }).nth(1).click();
  const dialog = page.getByRole("dialog", { name: /Return read #2 to reader2/ });
  await dialog.getByLabel("Comment").fill("Please include the caudate lobe on slice 10.");
  await dialog.getByRole("button", { name: "Return to reader" }).click();
  await page.getByText("Read #2 returned to reader2.").waitFor();
  await logout();
});

test("reader2 sees the returned read with the comment, corrects it and submits again", async () => {
  await login("reader2");
  await page.goto(`${platform.base}/projects/demo/queue`);
  const row = page.getByTestId("task-table").first().locator("tr", { hasText: "Returned" });
  await row.getByText("Reviewer: Please include the caudate lobe").waitFor();
  await row.getByRole("link", { name: "Open" }).click();
  await page.getByTestId("return-comment").filter({ hasText: "caudate lobe" }).waitFor();
  await saveStatus().filter({ hasText: "All changes saved · version 1" }).waitFor();
  await page.keyboard.press("b");
  await dragImage([236, 262], [244, 272]);
  await snap("returned-read");
  await page.getByRole("button", { name: "Submit", exact: true }).click();
  await page.getByRole("dialog", { name: "Submit this read?" }).getByRole("button", { name: "Submit for review" }).click();
  await page.getByRole("heading", { name: "Submitted" }).waitFor();
  await logout();
});

test("reviewer: STAPLE consensus from the two reads", async () => {
  await login("reviewer");
  await page.goto(`${platform.base}/projects/demo/review`);
  await page.getByTestId("review-table").getByRole("link", { name: "Review" }).first().click();
  await page.getByTestId("agreement-1").waitFor({ timeout: 30_000 });
  await page.getByLabel("Consensus method").selectOption("staple");
  await page.getByRole("button", { name: "Build consensus" }).click();
  await page.getByTestId("consensus-state").filter({ hasText: "version 1" }).waitFor({ timeout: 30_000 });
  await page.getByRole("img", { name: /consensus on slice/ }).waitFor();
  await snap("review-consensus");
});

test("reviewer: export waits for the sign-off; sign with the password; DICOM SEG downloads", async () => {
  await page.getByRole("button", { name: "DICOM SEG" }).click();
  await page.getByTestId("export-problem").filter({ hasText: "requires a sign-off" }).waitFor();
  await page.getByRole("button", { name: "Sign off…" }).click();
  const dialog = page.getByTestId("sign-dialog");
  await dialog.getByLabel("Password").fill("not-my-password");
  await dialog.getByRole("button", { name: "Sign" }).click();
  await dialog.getByRole("alert").filter({ hasText: "The password is not correct" }).waitFor();
  await dialog.getByLabel("Password").fill(PASSWORD);
  await snap("sign-dialog");
  await dialog.getByRole("button", { name: "Sign" }).click();
  await dialog.waitFor({ state: "detached" });
  await page.getByTestId("case-status").filter({ hasText: "Signed" }).waitFor();
  await page.getByTestId("consensus-state").filter({ hasText: "Signed" }).waitFor();
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "DICOM SEG" }).click()]);
  const file = path.join(ARTIFACTS, download.suggestedFilename());
  await download.saveAs(file);
  const bytes = fs.readFileSync(file);
  assert.ok(bytes.length > 132, `the SEG has ${bytes.length} bytes`);
  assert.equal(bytes.subarray(128, 132).toString("latin1"), "DICM", "a DICOM file: preamble + DICM at byte 128");
  assert.match(download.suggestedFilename(), /\.dcm$/);
  await snap("signed-exported");
});

test("reviewer opens the signed consensus in the viewer", async () => {
  await page.getByRole("link", { name: "Edit in viewer" }).click();
  await page.getByTestId("viewer-canvas").waitFor();
  assert.match(await page.getByTestId("viewer-context").innerText(), /Case \d+ · consensus/);
  await saveStatus().filter({ hasText: "All changes saved · version 1" }).waitFor();
  await page.getByTestId("annotated-slices").filter({ hasText: /Annotated on [2-9] slices/ }).waitFor();
  await page.getByTestId("cache-status").filter({ hasText: "20 / 20 slices" }).waitFor({ timeout: 30_000 });
  await snap("consensus-viewer");
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

test("reviewer: the project export builds in the background and downloads as a zip", async () => {
  await page.goto(`${platform.base}/projects/demo/review`);
  await page.getByRole("heading", { name: "Export the project" }).waitFor();
  await page.getByRole("checkbox", { name: /NIfTI/ }).check();
  await page.getByRole("button", { name: "Build export" }).click();
  const get = page.getByRole("button", { name: /Download export \d+/ });
  await get.waitFor({ timeout: 60_000 });
  await snap("project-export");
  const [download] = await Promise.all([page.waitForEvent("download"), get.click()]);
  const file = path.join(ARTIFACTS, download.suggestedFilename());
  await download.saveAs(file);
  assert.equal(fs.readFileSync(file).subarray(0, 4).toString("latin1"), "PK\x03\x04", "a zip file");
});

test("log out", async () => {
  await logout();
  const me = await page.evaluate(async () => (await fetch("/api/auth/me/")).status);
  assert.ok(me === 401 || me === 403, `after logout /api/auth/me/ answered ${me}`);
  await snap("logged-out");
  assert.deepEqual(problems, [], "no script errors in the page");
});
