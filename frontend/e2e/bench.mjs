// Figures for the web app (a benchmark, not a test): prints
//  - the app's .wasm size, raw and gzip -9, and the chart library's JS apart;
//  - the time to render the signals table for 200 symbols;
//  - the time to render a chart of 1,000 bars with every indicator.
//
// Runs the real server (lib.mjs) and headless Chromium; the signals and
// chart answers are made up here (page.route) so that only the app's own
// work is timed: parsing, rendering, drawing. Median of 5 runs each.
//
//   node frontend/e2e/bench.mjs   (after scripts/build-spa and
//                                  cargo build -p trader-server)

import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { chromium } from "playwright-core";
import { outDir, root, startServer } from "./lib.mjs";

const PASSWORD = "correct horse battery staple";
const RUNS = 5;

function gz(file) {
  return zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
}

function sizes() {
  const dist = path.join(root, "frontend", "dist");
  const files = fs.readdirSync(dist);
  const wasm = files.find((f) => f.endsWith(".wasm"));
  const glue = files.find((f) => /^frontend-.*\.js$/.test(f));
  const charts = files.find((f) => /^lightweight-charts-.*\.js$/.test(f));
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  const raw = (f) => fs.statSync(path.join(dist, f)).size;
  console.log(`app .wasm: ${kb(raw(wasm))} raw, ${kb(gz(path.join(dist, wasm)))} gzip -9`);
  if (glue) console.log(`app JS glue: ${kb(raw(glue))} raw, ${kb(gz(path.join(dist, glue)))} gzip -9`);
  if (charts) console.log(`lightweight-charts JS (apart): ${kb(raw(charts))} raw, ${kb(gz(path.join(dist, charts)))} gzip -9`);
}

function signals(n) {
  const actions = ["buy", "sell", "hold"];
  const t = new Date(Date.UTC(2026, 10, 27)).toISOString();
  return {
    watchlist_id: 1,
    timeframe: "1Day",
    window: 100,
    signals: Array.from({ length: n }, (_, i) => ({
      symbol: `S${String(i).padStart(3, "0")}`,
      name: `Symbol number ${i} Inc.`,
      action: actions[i % 3],
      strength_pct: (i * 37) % 101,
      votes: ["rsi", "sma_crossover", "macd", "bollinger_bands"].map((rule, k) => ({
        rule,
        vote: actions[(i + k) % 3] === "hold" ? "none" : actions[(i + k) % 3],
        reason: "made up for the benchmark",
        values: { value: 50 + ((i * k) % 30), other: null },
      })),
      price: 100 + i,
      bar_time: t,
      bars: 100,
      error: null,
    })),
  };
}

function chart(n) {
  const bars = [];
  let c = 100;
  const start = Date.UTC(2022, 0, 3) / 1000;
  for (let i = 0; i < n; i++) {
    const o = c;
    c = Math.max(1, c + Math.sin(i / 7) * 2 + ((i * 7919) % 11) / 5 - 1);
    bars.push({ t: new Date((start + i * 86400) * 1000).toISOString(), o, h: Math.max(o, c) + 1, l: Math.min(o, c) - 1, c, v: 1e6 });
  }
  const series = (f) => bars.map((_, i) => (i < 30 ? null : f(i)));
  return {
    symbol: "S000",
    timeframe: "1Day",
    bars,
    sma_short: series((i) => bars[i].c * 0.99),
    sma_long: series((i) => bars[i].c * 0.98),
    bb_upper: series((i) => bars[i].c * 1.05),
    bb_middle: series((i) => bars[i].c),
    bb_lower: series((i) => bars[i].c * 0.95),
    rsi: series((i) => 50 + 20 * Math.sin(i / 9)),
    macd: series((i) => Math.sin(i / 11)),
    macd_signal: series((i) => Math.sin((i - 3) / 11)),
    macd_hist: series((i) => Math.sin(i / 11) - Math.sin((i - 3) / 11)),
    markers: bars.filter((_, i) => i % 50 === 49).map((b, k) => ({ t: b.t, action: k % 2 ? "sell" : "buy", strength_pct: 50, price: b.c })),
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  sizes();
  const { child, base, dataDir } = await startServer({ logName: "bench-server.log" });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: base })).newPage();
    await page.goto("/login");
    await page.locator("#reg-token").fill(fs.readFileSync(path.join(dataDir, "setup-token"), "utf8").trim());
    await page.locator("#reg-username").fill("bench");
    await page.locator("#reg-email").fill("bench@example.com");
    await page.locator("#reg-password").fill(PASSWORD);
    await page.getByRole("button", { name: "Create the administrator" }).click();
    await page.locator("h1", { hasText: "Dashboard" }).waitFor();

    const list = JSON.stringify(signals(200));
    const bars = JSON.stringify(chart(1000));
    const json = (body) => (r) => r.fulfill({ contentType: "application/json", body });
    await page.route((u) => u.pathname === "/api/signals", json(list));
    await page.route((u) => u.pathname.startsWith("/api/chart/"), json(bars));
    await page.route((u) => u.pathname === "/api/signals/history", json('{"signals":[],"next_cursor":null}'));

    const table = [];
    const drawn = [];
    for (let i = 0; i < RUNS; i++) {
      await page.goto("/scheduler");
      await page.locator("h1", { hasText: "Scheduler" }).waitFor();
      // From the click to 200 rows in the document (fetch of the made-up
      // answer, JSON parsing, rendering), then to the next frame.
      table.push(await page.evaluate(() => new Promise((resolve) => {
        const t0 = performance.now();
        const done = () => requestAnimationFrame(() => resolve(performance.now() - t0));
        const obs = new MutationObserver(() => {
          if (document.querySelectorAll("[data-testid=signals] tbody tr").length >= 200) { obs.disconnect(); done(); }
        });
        obs.observe(document.body, { childList: true, subtree: true });
        [...document.querySelectorAll("nav a")].find((a) => a.textContent === "Signals").click();
      })));
      // From the click on a symbol to the chart's canvases drawn.
      drawn.push(await page.evaluate(() => new Promise((resolve) => {
        const t0 = performance.now();
        const obs = new MutationObserver(() => {
          if (document.querySelectorAll("[data-testid=price-chart] canvas").length > 0) {
            obs.disconnect();
            requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
          }
        });
        obs.observe(document.body, { childList: true, subtree: true });
        document.querySelector("[data-testid=signals] tbody tr a").click();
      })));
    }
    console.log(`signals table, 200 symbols: median ${median(table).toFixed(0)} ms (runs: ${table.map((x) => x.toFixed(0)).join(", ")})`);
    console.log(`chart, 1,000 bars with SMA pair, Bollinger Bands, RSI, MACD and markers: median ${median(drawn).toFixed(0)} ms (runs: ${drawn.map((x) => x.toFixed(0)).join(", ")})`);
    fs.writeFileSync(path.join(outDir, "bench.json"), JSON.stringify({ signalsTable200Ms: table, chart1000BarsMs: drawn }, null, 2));
  } finally {
    await browser.close();
    child.kill("SIGTERM");
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
