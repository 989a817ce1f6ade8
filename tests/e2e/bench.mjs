/**
 * make bench-frontend: the browser's side of the interactive budgets, in Debian chromium against the
 * real platform (embedded PostgreSQL/Redis, Celery workers, LiteMedSAM on CPU).
 *
 *   scroll   One wheel notch per animation frame over the 512x512 demo CT once all 20 slices are cached.
 *            Frame time = the main thread's work for that frame: the wheel handler (slice change) plus the
 *            viewer's render in the next animation frame (window/level through the LUT, overlay, compose).
 *            Also the animation-frame intervals, to show no frame was dropped.
 *   prompt   Click-to-proposal-painted with the slice's embedding cached: a box drawn with the mouse,
 *            timed in the page from the pointer-up to the proposal painted on the canvas (the viewer's own
 *            marks), over the WebSocket room and, for comparison, over plain HTTP (the fallback).
 *
 * Prints a table and ends with `BENCH frontend scroll_p95_ms=... prompt_paint_p50_ms=...`.
 * E2E_BASE_URL=http://... reuses a running platform. BENCH_PROMPTS / BENCH_FRAMES change the counts.
 */

import { DEMO_PASSWORD, launchChromium, loginAs, startPlatform } from "./harness.mjs";

const FRAMES = Number(process.env.BENCH_FRAMES ?? 300);
const PROMPTS = Number(process.env.BENCH_PROMPTS ?? 20);

function quantile(values, q) {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : "n/a");

function row(name, values, unit = "ms") {
  return `${name.padEnd(44)} ${String(values.length).padStart(5)} ${f1(quantile(values, 0.5)).padStart(8)} ${f1(quantile(values, 0.95)).padStart(8)} ${f1(Math.max(...values)).padStart(8)}  ${unit}`;
}

async function main() {
  const platform = process.env.E2E_BASE_URL
    ? { base: process.env.E2E_BASE_URL, close: async () => {} }
    : await startPlatform();
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    await loginAs(page, platform.base, "reader1", DEMO_PASSWORD);
    const seriesId = await page.evaluate(async () => {
      const studies = await (await fetch("/api/projects/demo/studies/")).json();
      for (const st of studies) {
        const series = await (await fetch(`/api/projects/demo/studies/${st.id}/`)).json();
        const ct = series.find((s) => s.modality === "CT" && s.frame_count >= 20);
        if (ct) return ct.id;
      }
      return null;
    });
    if (!seriesId) throw new Error("the demo CT series is missing");
    await page.goto(`${platform.base}/projects/demo/series/${seriesId}`);
    await page.getByTestId("cache-status").filter({ hasText: "20 / 20 slices" }).waitFor({ timeout: 60_000 });
    await page.getByTestId("connection-status").and(page.locator("[data-status='open']")).waitFor();

    // ---- scroll ------------------------------------------------------------------------------------
    const scroll = await page.evaluate(async (frames) => {
      const { controller } = window.__readingroom;
      const canvas = document.querySelector("[data-testid='viewer-canvas']");
      const r = canvas.getBoundingClientRect();
      const nextFrame = () => new Promise((res) => requestAnimationFrame(res));
      const work = [];
      const handler = [];
      const render = [];
      const intervals = [];
      let dir = 1;
      let pendingHandler = null;
      await nextFrame();
      let last = performance.now();
      for (let i = 0; i < frames + 1; i++) {
        await nextFrame(); // the viewer's render for the previous notch ran just before this callback
        const now = performance.now();
        if (pendingHandler !== null) {
          const renderMs = controller.stats.renders.at(-1) ?? 0;
          handler.push(pendingHandler);
          render.push(renderMs);
          work.push(pendingHandler + renderMs);
          intervals.push(now - last);
        }
        last = now;
        if (i === frames) break;
        const z = controller.state.get().z;
        if (z >= controller.state.get().count - 1) dir = -1;
        if (z <= 0) dir = 1;
        const t0 = performance.now();
        canvas.dispatchEvent(
          new WheelEvent("wheel", { deltaY: 100 * dir, clientX: r.x + r.width / 2, clientY: r.y + r.height / 2, bubbles: true, cancelable: true }),
        );
        pendingHandler = performance.now() - t0;
      }
      return { work, handler, render, intervals };
    }, FRAMES);

    // ---- prompt -> proposal painted ----------------------------------------------------------------
    const canvasBox = await page.getByTestId("viewer-canvas").boundingBox();
    const scale = Math.min((canvasBox.width - 24) / 512, (canvasBox.height - 24) / 512);
    const at = (x, y) => ({
      x: canvasBox.x + (canvasBox.width - 512 * scale) / 2 + x * scale,
      y: canvasBox.y + (canvasBox.height - 512 * scale) / 2 + y * scale,
    });
    await page.keyboard.press("a");
    const prompt = async (k) => {
      const a = at(75 + (k % 5), 190 + (k % 3));
      const b = at(250 - (k % 4), 390 - (k % 2));
      const n = await page.evaluate(() => window.__readingroom.controller.stats.promptToPaint.length);
      await page.mouse.move(a.x, a.y);
      await page.mouse.down();
      await page.mouse.move(b.x, b.y, { steps: 3 });
      await page.mouse.up();
      await page.waitForFunction((n0) => window.__readingroom.controller.stats.promptToPaint.length > n0, n, { timeout: 120_000 });
      const ms = await page.evaluate(() => window.__readingroom.controller.stats.promptToPaint.at(-1));
      await page.keyboard.press("Escape");
      return ms;
    };
    const firstMs = await prompt(0); // computes and caches the slice's embedding
    const ws = [];
    for (let k = 1; k <= PROMPTS; k++) ws.push(await prompt(k));
    const paintOnly = await page.evaluate(() => Number(document.querySelector("[data-testid='viewer-canvas']").getAttribute("data-proposal-paint-ms")));
    // The same prompts over HTTP: close the room, the transport falls back.
    await page.evaluate(() => window.__readingroom.room.close());
    const http = [];
    for (let k = 1; k <= Math.min(PROMPTS, 10); k++) http.push(await prompt(k));

    const header = `${"measure".padEnd(44)} ${"n".padStart(5)} ${"p50".padStart(8)} ${"p95".padStart(8)} ${"max".padStart(8)}`;
    console.log("\nReadingRoom frontend bench (Debian chromium, headless, software canvas; 512x512 CT, 20 slices cached)");
    console.log(header);
    console.log("-".repeat(header.length + 4));
    console.log(row("scroll: frame work (handler + render)", scroll.work));
    console.log(row("scroll:   wheel handler (slice change)", scroll.handler));
    console.log(row("scroll:   render (window LUT + compose)", scroll.render));
    console.log(row("scroll: animation-frame interval", scroll.intervals));
    console.log(row("prompt: click -> painted, WebSocket, cached", ws));
    console.log(row("prompt: click -> painted, HTTP fallback", http));
    console.log(`${"prompt: first on the slice (embedding)".padEnd(44)} ${"1".padStart(5)} ${f1(firstMs).padStart(8)}`);
    console.log(`${"proposal decode + paint (last, in page)".padEnd(44)} ${"1".padStart(5)} ${f1(paintOnly).padStart(8)}`);
    const dropped = scroll.intervals.filter((v) => v > 25).length;
    console.log(`\nscroll frames over 25 ms apart (dropped): ${dropped} of ${scroll.intervals.length}; targets: scroll p95 <= 16 ms, prompt p50 <= 100 ms`);
    console.log(
      `BENCH frontend scroll_p95_ms=${f1(quantile(scroll.work, 0.95))} prompt_paint_p50_ms=${f1(quantile(ws, 0.5))} ` +
        `scroll_interval_p95_ms=${f1(quantile(scroll.intervals, 0.95))} prompt_http_p50_ms=${f1(quantile(http, 0.5))}`,
    );
  } finally {
    await browser.close();
    await platform.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
