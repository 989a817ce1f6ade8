/**
 * Dataset curation in the browser against the real platform (PostgreSQL, Redis, Celery worker, Chromium).
 *
 * Seeded through the platform's own API (harness.apiSession), as readers and a reviewer would do it:
 * a "Liver" label, two blind reads per case, a majority consensus and a sign-off on the demo CT and five
 * uploaded images; then an exact and a near copy of two of those images (unread cases). In the browser:
 *   owner: the Curation tab; filter builder (an invalid range shows the backend's 400, status + label
 *     volume + agreement conditions find the right cases); results with thumbnails that load; a saved
 *     filter saved, loaded and deleted; select all on the page -> bulk tag; one case -> quality flag;
 *     a duplicates scan finds the exact and near copies; snapshot: ratios checked client-side, split
 *     preview (cases, patients, labels per split), create, open its items, a second snapshot and the diff
 *     of the two; an nnU-Net + COCO export runs to the end and downloads as a zip; the statistics plots;
 *   reader1 (annotator) sees the backend's 403 on the page; a project reader1 is not a member of is 404.
 * Screenshots and the platform's log land in tests/e2e/artifacts/curation/.
 *
 * Run: `make test-e2e`, or `node --test tests/e2e/curation.test.mjs` (E2E_BASE_URL=... reuses a running
 * platform that has the demo data and nothing else).
 */

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { apiSession, ARTIFACTS, DEMO_PASSWORD, launchChromium, loginAs, logOut, startPlatform, waitFor } from "./harness.mjs";
import { encodePng } from "./png.mjs";

const PASSWORD = DEMO_PASSWORD;
const SHOTS = path.join(ARTIFACTS, "curation");
const OTHER_PROJECT = "curation-elsewhere";

let platform;
let browser;
let page;
let seeded;
const problems = [];
let shot = 0;

async function snap(name) {
  shot += 1;
  await page.screenshot({ path: path.join(SHOTS, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}

/** Distinct test images: each index its own pattern (so their difference hashes are far apart). */
function image(index, tweak = false) {
  const size = 96;
  return encodePng(size, size, (x, y) => {
    const patterns = [
      () => (x < 48 ? 40 : 200),
      () => (y < 48 ? 220 : 30),
      () => ((x + y) % 48 < 24 ? 30 : 210),
      () => ((x - 48) ** 2 + (y - 48) ** 2 < 900 ? 230 : 20),
      () => ((Math.floor(x / 24) + Math.floor(y / 24)) % 2 ? 200 : 50),
    ];
    let v = patterns[index % patterns.length]();
    // A near copy: a small patch changed, the rest identical.
    if (tweak && x >= 6 && x < 12 && y >= 6 && y < 12) v = 255 - v;
    return [v, v, v];
  });
}

/** A label map (row-major RLE) with a rectangle of `value`. */
function rectRle(rows, cols, [y0, y1, x0, x1], value = 1) {
  const values = [];
  const counts = [];
  const push = (v, n) => {
    if (n <= 0) return;
    if (values.length && values[values.length - 1] === v) counts[counts.length - 1] += n;
    else {
      values.push(v);
      counts.push(n);
    }
  };
  for (let y = 0; y < rows; y++) {
    if (y < y0 || y >= y1) push(0, cols);
    else {
      push(0, x0);
      push(value, x1 - x0);
      push(0, cols - x1);
    }
  }
  return { size: [rows, cols], values, counts };
}

/** Two blind reads (reader2's box shifted to vary the agreement), a majority consensus and a sign-off. */
async function readAndSign(sessions, cases) {
  const [r1, r2, reviewer] = sessions;
  const order = []; // case ids in the order reader1 read them
  for (const [ri, reader] of [r1, r2].entries()) {
    for (let i = 0; i < cases; i++) {
      const task = await reader.post("/api/projects/demo/tasks/next/");
      assert.ok(task, `${reader.username} has a next task (${i})`);
      if (!order.includes(task.case_id)) order.push(task.case_id);
      const index = order.indexOf(task.case_id);
      const annotation = await reader.get(`/api/projects/demo/tasks/${task.id}/annotation/`);
      const series = await reader.get(`/api/projects/demo/series/${task.series_id}/`);
      const frame = series.frames[Math.floor(series.frames.length / 2)];
      const { rows, columns: cols } = series;
      const side = Math.round(Math.min(rows, cols) * (0.2 + 0.08 * index));
      // Dice = 1 - shift/side: reader2 shifts a little on most cases, by 70 % on case index 2.
      const shift = ri === 0 ? 0 : Math.round(side * (index === 2 ? 0.7 : 0.04 * index));
      const y0 = Math.round(rows / 4) + shift;
      const x0 = Math.round(cols / 4);
      const box = [y0, Math.min(rows, y0 + side), x0, Math.min(cols, x0 + side)];
      await reader.post(`/api/projects/demo/annotations/${annotation.id}/versions/`, {
        base_version: annotation.head,
        source: "brush",
        frames: { [frame.id]: rectRle(rows, cols, box) },
      });
      await reader.post(`/api/projects/demo/tasks/${task.id}/submit/`);
    }
  }
  for (const caseId of order) {
    const consensus = await reviewer.post(`/api/projects/demo/cases/${caseId}/consensus/`, { method: "majority" });
    await reviewer.post(`/api/projects/demo/annotations/${consensus.id}/signoff/`, { password: PASSWORD });
  }
  return order;
}

async function seed(base) {
  const started = Date.now();
  const owner = await apiSession(base, "demo", PASSWORD);
  await owner.post("/api/projects/demo/labels/", {
    value: 1,
    name: "Liver",
    color: "#e0573b",
    category_code: { scheme: "SCT", value: "123037004", meaning: "Anatomical Structure" },
    type_code: { scheme: "SCT", value: "10200004", meaning: "Liver" },
  });
  await owner.put("/api/projects/demo/policy/", { readers_per_case: 2, consensus_method: "majority" });
  const upload = (name, bytes) =>
    owner.upload("/api/projects/demo/uploads/", [{ name, bytes, type: "image/png" }], { burned_in_annotation: "NO" });
  for (let i = 0; i < 5; i++) await upload(`pattern-${i}.png`, image(i));
  const sessions = await Promise.all(["reader1", "reader2", "reviewer"].map((u) => apiSession(base, u, PASSWORD)));
  const signed = await readAndSign(sessions, 6);
  // Copies, read by nobody: one pixel-identical to pattern 0, one nearly identical to pattern 1.
  const exact = await upload("pattern-0-copy.png", image(0));
  const near = await upload("pattern-1-near.png", image(1, true));
  await owner.post("/api/projects/", { slug: OTHER_PROJECT, name: "Curation elsewhere" });
  // The per-case statistics are computed by the worker after each sign-off.
  await waitFor(
    "label statistics of the signed cases",
    async () => (await owner.post("/api/projects/demo/curation/find/", { filter: { labels: [{ label: 1 }] }, count: true })).count === signed.length,
    { timeoutMs: 90_000 },
  );
  process.stderr.write(`[e2e] curation data seeded in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return { signed, copies: [...exact.series_ids, ...near.series_ids] };
}

before(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  platform = process.env.E2E_BASE_URL
    ? { base: process.env.E2E_BASE_URL, close: async () => {} }
    : await startPlatform({ logFile: "curation/server.log" });
  seeded = await seed(platform.base);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1, acceptDownloads: true });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    // 400/403/404 answers are part of the walk (invalid filter, refusals); the page explains them.
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) problems.push(msg.text());
  });
});

after(async () => {
  await browser?.close();
  await platform?.close();
});

const login = (user) => loginAs(page, platform.base, user, PASSWORD);
const logout = () => logOut(page);

const results = () => page.getByTestId("results-table");
const rows = () => results().locator("tbody tr");
const conditions = () => page.getByRole("list", { name: "Conditions" });

/** Run `action` (a click that searches) and wait until the results section has the new answer. */
async function answered(action) {
  const section = page.locator("section.results");
  const before = Number(await section.getAttribute("data-answers"));
  await action();
  await page.locator(`section.results[data-answers='${before + 1}'][aria-busy='false']`).waitFor();
}

const search = () => answered(() => page.getByRole("button", { name: "Search", exact: true }).click());

async function addCondition(label) {
  await page.getByLabel("Add condition").selectOption({ label });
}

test("owner: the Curation tab; the filter builder shows the backend's 400 and finds signed Liver cases with thumbnails", async () => {
  await login("demo");
  await page.getByRole("link", { name: /Demo: abdominal CT/ }).click();
  await page.getByRole("link", { name: "Curation" }).click();
  await page.getByRole("tab", { name: "Find and act" }).waitFor();
  await results().waitFor();
  assert.equal(await rows().count(), 8, "every case of the project before any condition");
  // Keyset pages: forward with the backend's cursor, back with the one kept.
  const range = page.getByTestId("results-range");
  await page.getByLabel("Rows per page").selectOption("5");
  await range.filter({ hasText: "Rows 1–5 of 8" }).waitFor();
  await page.getByRole("button", { name: "Next" }).click();
  await range.filter({ hasText: "Rows 6–8 of 8" }).waitFor();
  assert.equal(await rows().count(), 3);
  assert.equal(await page.getByRole("button", { name: "Next" }).isDisabled(), true);
  await page.getByRole("button", { name: "Previous" }).click();
  await range.filter({ hasText: "Rows 1–5 of 8" }).waitFor();
  await page.getByLabel("Rows per page").selectOption("25");
  await range.filter({ hasText: "Rows 1–8 of 8" }).waitFor();

  // An inverted range: the backend refuses it (400 invalid_filter) and the builder says where.
  await addCondition("Slice thickness (mm)");
  await page.getByLabel("Slice thickness from").fill("5");
  await page.getByLabel("Slice thickness to").fill("1");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  const error = page.getByTestId("filter-error");
  await error.waitFor();
  assert.match(await error.innerText(), /invalid_filter/);
  assert.match(await error.innerText(), /slice_thickness: .*min is greater than max/);
  await snap("invalid-filter");
  await conditions().getByRole("button", { name: "Remove condition Slice thickness (mm)" }).click();

  await addCondition("Status");
  await conditions().getByLabel("Signed").check();
  await addCondition("Label");
  await conditions().getByLabel("Label", { exact: true }).selectOption({ label: "Liver (1)" });
  await conditions().getByLabel("Volume from").fill("0.001");
  await search();
  await error.waitFor({ state: "detached" });
  assert.equal(await rows().count(), seeded.signed.length);
  assert.match(await page.getByTestId("results-range").innerText(), new RegExp(`of ${seeded.signed.length}`));
  assert.match(await rows().first().innerText(), /Signed/);
  assert.match(await rows().first().innerText(), /Liver \d+\.\d mL/);
  // Every thumbnail is a real PNG from the imaging endpoint, loaded with the session cookie.
  const thumbs = results().locator("img.thumb");
  assert.equal(await thumbs.count(), seeded.signed.length);
  await waitFor("thumbnails to load", () =>
    thumbs.evaluateAll((imgs) => imgs.every((img) => img.complete && img.naturalWidth > 0)),
  );
  await snap("signed-liver-results");

  // "Agreement Dice < x": the one case read with a shifted box.
  await addCondition("Agreement (Dice)");
  await conditions().getByLabel("Mean Dice to").fill("0.5");
  await search();
  assert.equal(await rows().count(), 1, "one case where the two readers disagree");
  await conditions().getByRole("button", { name: "Remove condition Agreement (Dice)" }).click();
  await search();
  assert.equal(await rows().count(), seeded.signed.length);
});

test("owner: a saved filter is saved, listed, loaded into the builder and deleted", async () => {
  await page.getByLabel("Filter name").fill("signed-liver");
  await page.getByRole("button", { name: "Save filter" }).click();
  const list = page.getByRole("list", { name: "Saved filters" });
  await list.getByText("signed-liver").waitFor();
  // Clear the builder, then load the saved filter: its conditions come back and the search runs.
  for (const name of ["Status", "Label"]) await conditions().getByRole("button", { name: `Remove condition ${name}` }).click();
  await search();
  assert.equal(await rows().count(), 8);
  await answered(() => list.getByRole("button", { name: "Load filter signed-liver" }).click());
  assert.equal(await conditions().getByLabel("Signed").isChecked(), true);
  assert.equal(await rows().count(), seeded.signed.length);
  await page.getByLabel("Filter name").fill("to-delete");
  await page.getByRole("button", { name: "Save filter" }).click();
  await list.getByText("to-delete").waitFor();
  page.once("dialog", (d) => d.accept());
  await list.getByRole("button", { name: "Delete filter to-delete" }).click();
  await list.getByText("to-delete").waitFor({ state: "detached" });
  const saved = await page.evaluate(async () => (await fetch("/api/projects/demo/curation/filters/")).json());
  assert.deepEqual(
    saved.map((f) => f.name),
    ["signed-liver"],
  );
  await snap("saved-filters");
});

test("owner: bulk tag on all rows of the page, then a quality flag on one case", async () => {
  await page.getByLabel("Select all on this page").check();
  await page.getByTestId("selection-count").filter({ hasText: `${seeded.signed.length} selected` }).waitFor();
  await page.getByLabel("Action", { exact: true }).selectOption({ label: "Add tag" });
  await page.getByLabel("Tag", { exact: true }).fill("liver-ready");
  await page.getByRole("button", { name: `Apply to ${seeded.signed.length}` }).click();
  await page.getByTestId("bulk-result").filter({ hasText: `Tagged ${seeded.signed.length} cases.` }).waitFor();
  await waitFor("tags in the refreshed table", async () => (await results().locator("[data-tag='liver-ready']").count()) === seeded.signed.length);

  // Only the first case: unselect all, select one, flag it.
  await page.getByLabel("Select all on this page").uncheck();
  const first = rows().first();
  const caseId = Number(await first.getAttribute("data-id"));
  await first.getByRole("checkbox").check();
  await page.getByLabel("Action", { exact: true }).selectOption({ label: "Set quality flag" });
  await page.getByLabel("Flag kind").selectOption({ label: "Motion artefact" });
  await page.getByLabel("Reason").fill("breathing at the dome");
  await page.getByRole("button", { name: "Apply to 1" }).click();
  await page.getByTestId("bulk-result").filter({ hasText: "Flagged 1 case." }).waitFor();
  await results().locator(`tr[data-id='${caseId}'] [data-flag='motion_artefact']`).waitFor();
  await snap("bulk-tag-and-flag");
  const flagged = await page.evaluate(
    async () =>
      (
        await fetch("/api/projects/demo/curation/find/", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRFToken": document.cookie.match(/csrftoken=([^;]+)/)[1] },
          body: JSON.stringify({ filter: { flags: ["motion_artefact"], tags: ["liver-ready"] } }),
        })
      ).json(),
  );
  assert.deepEqual(
    flagged.items.map((i) => i.id),
    [caseId],
  );
  await page.getByLabel("Select all on this page").uncheck();
});

test("owner: a duplicates scan finds the exact and the near copy", async () => {
  await page.getByRole("tab", { name: "Duplicates" }).click();
  await page.getByTestId("fingerprint-status").waitFor();
  await page.getByRole("button", { name: "Scan for duplicates" }).click();
  await page.getByTestId("fingerprint-status").filter({ hasText: "Every image of the project is fingerprinted." }).waitFor({ timeout: 90_000 });
  const groups = page.getByTestId("duplicate-group");
  await groups.first().waitFor();
  const kinds = await groups.evaluateAll((els) => els.map((e) => e.getAttribute("data-kind")));
  assert.ok(kinds.includes("exact"), `groups: ${kinds}`);
  assert.ok(kinds.includes("near"), `groups: ${kinds}`);
  const text = await page.getByTestId("duplicates-panel").innerText();
  for (const series of seeded.copies) assert.match(text, new RegExp(`Series ${series}\\b`));
  await snap("duplicates");
});

test("owner: split preview, snapshot creation, items, a second snapshot and the diff", async () => {
  await page.getByRole("tab", { name: "Snapshots" }).click();
  await page.getByLabel("Snapshot name").fill("liver-v1");
  await page.getByLabel("Seed").fill("7");
  // The client checks the ratios before sending anything.
  await page.getByLabel("Train ratio").fill("0.7");
  await page.getByLabel("Validation ratio").fill("0.2");
  await page.getByLabel("Test ratio").fill("0.2");
  await page.getByTestId("ratio-sum").filter({ hasText: "The ratios sum to 1.1, not 1." }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Preview" }).isDisabled(), true);
  await page.getByLabel("Train ratio").fill("0.6");
  await page.getByTestId("ratio-sum").filter({ hasText: "Ratios sum to 1." }).waitFor();
  await page.getByRole("button", { name: "Preview" }).click();
  const preview = page.getByTestId("split-preview");
  await preview.waitFor({ timeout: 60_000 });
  // The saved filter (signed Liver cases) is in the builder; the flagged case stays out.
  const kept = seeded.signed.length - 1;
  const splits = preview.getByTestId("preview-splits");
  const total = (row) => splits.locator(`tr[data-row='${row}'] td`).last().innerText();
  assert.equal(await total("cases"), String(kept));
  assert.equal(await total("patients"), String(kept));
  assert.equal(await total("label-1"), String(kept));
  assert.match(await preview.innerText(), /1 flagged case\(s\) left out/);
  for (const split of ["train", "val", "test"]) {
    assert.ok(Number(await splits.locator(`tr[data-row='cases'] td[data-split='${split}']`).innerText()) >= 1, `${split} has cases`);
  }
  await snap("split-preview");
  // A name the backend refuses: its 400 is shown under the form, and nothing is created.
  await page.getByLabel("Snapshot name").fill("liver v1!");
  await page.getByRole("button", { name: "Create snapshot" }).click();
  const refusal = page.getByTestId("snapshot-error");
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /name: /);
  await page.getByLabel("Snapshot name").fill("liver-v1");
  await page.getByRole("button", { name: "Create snapshot" }).click();
  const table = page.getByTestId("snapshot-table");
  await table.getByText("liver-v1").waitFor();
  const detail = page.getByTestId("snapshot-detail");
  await detail.waitFor();
  const items = detail.getByTestId("snapshot-items").locator("tbody tr");
  await waitFor("the snapshot's items", async () => (await items.count()) === kept);
  await snap("snapshot-created");

  // The same selection with the flagged case included: a new version, and the diff shows it added.
  await page.getByText("Include flagged cases").click();
  await page.getByRole("button", { name: "Create snapshot" }).click();
  await table.getByText("v2").waitFor();
  await page.getByLabel("Compare liver-v1 v1").check();
  await page.getByLabel("Compare liver-v1 v2").check();
  await page.getByRole("button", { name: "Compare the two checked" }).click();
  const diff = page.getByTestId("snapshot-diff");
  await diff.waitFor();
  assert.match(await diff.innerText(), /Added\s*1/);
  assert.match(await diff.innerText(), /Removed\s*0/);
  await snap("snapshot-diff");
});

test("owner: an nnU-Net v2 + COCO export of the snapshot runs to the end and downloads", async () => {
  await page.getByRole("button", { name: "Open liver-v1 v1" }).click();
  const detail = page.getByTestId("snapshot-detail");
  await detail.getByRole("heading", { name: /liver-v1/ }).waitFor();
  const exports = detail.getByTestId("snapshot-exports");
  await exports.getByRole("checkbox", { name: /COCO/ }).check();
  await exports.getByRole("button", { name: "Start export" }).click();
  await exports.getByTestId("export-job").first().waitFor();
  const link = exports.getByRole("link", { name: /Download export \d+/ });
  await link.waitFor({ timeout: 90_000 });
  await snap("export-done");
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  const file = path.join(SHOTS, download.suggestedFilename());
  await download.saveAs(file);
  const bytes = fs.readFileSync(file);
  assert.equal(bytes.subarray(0, 4).toString("latin1"), "PK\x03\x04", "a zip file");
  assert.ok(bytes.includes(Buffer.from("dataset.json")), "the nnU-Net dataset.json is inside");
});

test("owner: the statistics plots", async () => {
  await page.getByRole("tab", { name: "Statistics" }).click();
  const labels = page.getByTestId("chart-labels");
  await labels.locator("svg").waitFor();
  assert.equal(await labels.locator(".chart__bar").first().getAttribute("data-value"), String(seeded.signed.length));
  await page.getByTestId("chart-volume").locator("svg rect").first().waitFor();
  const agreement = page.getByTestId("chart-agreement");
  const counts = await agreement.locator(".chart__bar").evaluateAll((bars) => bars.map((b) => Number(b.getAttribute("data-value"))));
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    seeded.signed.length,
    "every signed case has a mean Dice",
  );
  const throughput = page.getByTestId("chart-throughput");
  for (const reader of ["reader1", "reader2"]) await throughput.locator(`[data-reader='${reader}'] polyline`).waitFor();
  assert.match(await throughput.innerText(), new RegExp(`reader1: ${seeded.signed.length}`));
  await snap("statistics");
  // The same plots for one snapshot's cases.
  await page.getByLabel("Statistics of").selectOption({ label: "snapshot liver-v1 v1" });
  await waitFor("snapshot statistics", async () => (await labels.locator(".chart__bar").first().getAttribute("data-value")) === String(seeded.signed.length - 1));
  await logout();
});

test("reader1 (annotator) gets the backend's 403; a project they are not a member of is 404", async () => {
  await login("reader1");
  await page.goto(`${platform.base}/projects/demo`);
  await page.getByRole("link", { name: "My queue" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "Curation" }).count(), 0, "no Curation tab for annotators");
  await page.goto(`${platform.base}/projects/demo/curation`);
  const refused = page.getByTestId("curation-refused");
  await refused.waitFor();
  assert.match(await refused.innerText(), /This needs one of the roles: owner, reviewer/);
  assert.equal(await page.getByRole("tab", { name: "Find and act" }).count(), 0);
  await snap("annotator-refused");
  await page.goto(`${platform.base}/projects/${OTHER_PROJECT}/curation`);
  await refused.filter({ hasText: "No such project, or you are not a member of it." }).waitFor();
  const status = await page.evaluate(
    async (slug) => (await fetch(`/api/projects/${slug}/curation/access/`)).status,
    OTHER_PROJECT,
  );
  assert.equal(status, 404);
  await snap("outsider-refused");
  await logout();
  assert.deepEqual(problems, [], "no script errors in the page");
});
