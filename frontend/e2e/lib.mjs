// What the browser tests and the benchmark share: starting the real
// server (`target/debug/alpaca-trader serve`, demo mode, on a fresh data
// folder and SQLite database) with the built app (SPA_DIR=frontend/dist).

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../..");
export const outDir = path.join(root, "target", "e2e");

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

// The scheduler runs with a short tick (SCHEDULER_TICK_SECS) so that a
// test sees a pass within seconds.
export async function startServer({ logName = "server.log", env = {} } = {}) {
  fs.mkdirSync(outDir, { recursive: true });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "alpaca-e2e-"));
  const port = await freePort();
  const target = process.env.CARGO_TARGET_DIR ?? path.join(root, "target");
  const bin = process.env.SERVER_BIN ?? path.join(target, "debug", "alpaca-trader");
  const serverLog = fs.createWriteStream(path.join(outDir, logName));
  const child = spawn(bin, ["serve"], {
    cwd: root,
    env: {
      ...process.env,
      APP_ENV: "development",
      HOST: "127.0.0.1",
      PORT: String(port),
      DATA_DIR: dataDir,
      DATABASE_URL: path.join(dataDir, "e2e.db"),
      SPA_DIR: path.join(root, "frontend", "dist"),
      // The test signs in many times within a minute.
      AUTH_RATE_BURST: "1000",
      AUTH_RATE_PERIOD_SECS: "1",
      SCHEDULER_TICK_SECS: "2",
      RUST_LOG: process.env.RUST_LOG ?? "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.pipe(serverLog);
  child.stderr.pipe(serverLog);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}); see target/e2e/server.log`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return { child, base, dataDir };
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the server did not start in 30 s");
}

