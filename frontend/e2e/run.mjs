// Browser tests of the web app against the real server, in headless
// Chromium (Debian's /usr/bin/chromium through playwright-core).
//
// Starts `target/debug/alpaca-trader serve` (demo mode, lib.mjs) on a fresh
// data folder and SQLite database with SPA_DIR=frontend/dist, then walks through what a
// person does: claims the fresh install with the setup token, turns on 2FA
// with a code computed here (RFC 6238), saves the recovery codes, signs out
// and in through 2FA, signs in with a recovery code, creates and revokes a
// token, ends another session, changes the password, creates a user as
// admin who then must change the temporary password, and visits the 403
// and 404 pages. Then the trading pages (trading.mjs): a sim account,
// watchlists and signals, a chart, an order filled without reloading, a
// settings error at its field, auto-trade in dry run and the kill switch.
//
// On every page: no console errors, no CSP violations, no serious or
// critical axe-core violations, and screenshots at 1280 px and 390 px
// under target/e2e/. Prints the time from navigation to an interactive
// sign-in page.
//
//   node frontend/e2e/run.mjs   (after scripts/build-spa and
//                                cargo build -p trader-server)

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { outDir, root, startServer } from "./lib.mjs";
import { trading } from "./trading.mjs";

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "a much longer passphrase 2026";
const BOB_PASSWORD = "bob's own good passphrase";
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 390, height: 844 };

fs.mkdirSync(outDir, { recursive: true });
fs.rmSync(path.join(outDir, "failure.png"), { force: true });
const started = Date.now();
const problems = [];
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);

// --- TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30 s) ---------------------------

function base32(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of s.replace(/=+$/, "").toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

function hotp(key, counter) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac("sha1", key).update(msg).digest();
  const off = mac[mac.length - 1] & 0xf;
  const bin = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return bin.toString().padStart(6, "0");
}

// The server accepts the steps t-1..t+1, each once per user: use the next
// unused step, waiting when it is too far ahead.
const lastStep = new Map();
async function totp(user, secret) {
  for (;;) {
    const now = Math.floor(Date.now() / 1000 / 30);
    const step = Math.max(now, (lastStep.get(user) ?? -1) + 1);
    if (step <= now + 1) {
      lastStep.set(user, step);
      return hotp(base32(secret), step);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// --- the server --------------------------------------------------------------

// --- pages -------------------------------------------------------------------

function watch(page, who) {
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const text = msg.text();
    const url = msg.location()?.url ?? "";
    // Chromium itself logs every non-2xx fetch. The API's 4xx answers are
    // expected in these flows (401 from /api/auth/me when signed out, 403
    // reauth_required before the dialog); anything else is a problem.
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text) && url.includes("/api/")) return;
    // The live-updates stream (GET /api/events) refused (401 once signed
    // out, 429 past five streams) answers the JSON envelope, which
    // Chromium reports as a wrong MIME type; the app then polls
    // (src/live.rs), as it should.
    if (/EventSource's response has a MIME type .* Aborting the connection/.test(text)) return;
    problems.push(`${who}: console error on ${page.url()}: ${text} ${url}`);
  });
  page.on("pageerror", (err) => problems.push(`${who}: page error on ${page.url()}: ${err.message}`));
}

async function newPage(browser, base, who) {
  const context = await browser.newContext({ viewport: WIDE, baseURL: base });
  // Record CSP violations (Chromium also logs them as console errors).
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  watch(page, who);
  return page;
}

const visited = new Set();

// Checks the page (CSP, axe) and takes its screenshots at both widths.
async function check(page, name) {
  await page.waitForLoadState("networkidle");
  await page.waitForFunction(() => !document.querySelector(".loading"), null, { timeout: 10_000 }).catch(() => {});
  const csp = await page.evaluate(() => window.__csp ?? []);
  for (const v of csp) problems.push(`${name}: CSP violation: ${v}`);
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ["violations"] }),
  );
  for (const v of result.violations) {
    if (v.impact === "serious" || v.impact === "critical") {
      problems.push(`${name}: axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
    }
  }
  await page.screenshot({ path: path.join(outDir, `${name}-1280.png`), fullPage: true });
  await page.setViewportSize(NARROW);
  await page.waitForTimeout(100);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) {
    const wide = await page.evaluate(() =>
      [...document.querySelectorAll("body *")]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1 && !el.closest(".table-wrap"))
        .slice(-3)
        .map((el) => `${el.tagName.toLowerCase()}.${el.className}`)
        .join(", "),
    );
    problems.push(`${name}: ${overflow} px wider than a 390 px screen (${wide})`);
  }
  await page.screenshot({ path: path.join(outDir, `${name}-390.png`), fullPage: true });
  await page.setViewportSize(WIDE);
  visited.add(name);
}

async function expectText(page, selector, text) {
  try {
    await page.locator(selector).filter({ hasText: text }).first().waitFor({ timeout: 10_000 });
  } catch (err) {
    await page.screenshot({ path: path.join(outDir, "failure.png"), fullPage: true }).catch(() => {});
    throw err;
  }
}

// Confirms in the reauth dialog when it appears within `ms`.
async function confirmIfAsked(page, password, ms = 2000) {
  const dialog = page.getByRole("dialog");
  try {
    await dialog.waitFor({ timeout: ms });
  } catch {
    return false;
  }
  await dialog.getByLabel("Password").fill(password);
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await dialog.waitFor({ state: "detached", timeout: 10_000 });
  return true;
}

async function signIn(page, username, password) {
  await page.goto("/login");
  await page.locator("#login-username").fill(username);
  await page.locator("#login-password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function signOut(page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL("**/login");
}

// --- the walk-through ----------------------------------------------------------

async function main() {
  const { child, base, dataDir } = await startServer();
  log(`server at ${base}`);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    // playwright gives each launch a fresh --user-data-dir of its own.
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const page = await newPage(browser, base, "admin");

    // A fresh install: the setup form.
    await page.goto("/");
    await page.waitForURL("**/login");
    await expectText(page, "h1", "Set up alpaca-trader");
    await check(page, "setup");
    const setupToken = fs.readFileSync(path.join(dataDir, "setup-token"), "utf8").trim();
    await page.locator("#reg-token").fill(setupToken);
    await page.locator("#reg-username").fill("admin");
    await page.locator("#reg-email").fill("admin@example.com");
    await page.locator("#reg-password").fill("short");
    await page.getByRole("button", { name: "Create the administrator" }).click();
    // A field error at the field.
    await expectText(page, "#reg-password-error", "12");
    await check(page, "setup-field-error");
    await page.locator("#reg-password").fill(PASSWORD);
    await page.getByRole("button", { name: "Create the administrator" }).click();
    await expectText(page, "h1", "Dashboard");
    await expectText(page, "[data-testid=username]", "admin");
    await check(page, "overview");
    log("claimed the install");

    // 2FA set-up.
    await page.goto("/security/2fa");
    await page.getByRole("button", { name: "Start" }).click();
    const secret = (await page.locator("[data-testid=totp-secret]").textContent()).trim();
    await page.locator("img.qr").waitFor();
    if (!(await page.locator("img.qr").evaluate((img) => img.complete && img.naturalWidth > 0))) {
      problems.push("the 2FA QR code did not load");
    }
    await check(page, "2fa-setup");
    await page.locator("#enable-code").fill(await totp("admin", secret));
    await page.getByRole("button", { name: "Turn on" }).click();
    await confirmIfAsked(page, PASSWORD);
    await page.locator("[data-testid=recovery-codes]").waitFor();
    const recovery = (await page.locator("[data-testid=recovery-codes] li").allTextContents()).map((c) => c.trim());
    if (recovery.length < 2) throw new Error(`expected recovery codes, got ${recovery}`);
    const href = await page.getByRole("link", { name: "Download" }).getAttribute("href");
    if (!href.startsWith("data:text/plain") || !decodeURIComponent(href).includes(recovery[0])) {
      problems.push("the recovery codes download link does not hold the codes");
    }
    fs.writeFileSync(path.join(outDir, "recovery-codes.txt"), recovery.join("\n") + "\n");
    await check(page, "2fa-recovery-codes");
    log(`2FA on, ${recovery.length} recovery codes saved`);

    // Out and back in through 2FA (the code submits itself at 6 digits).
    await signOut(page);
    await check(page, "sign-in");
    await signIn(page, "admin", PASSWORD);
    await page.waitForURL("**/login/2fa");
    await check(page, "verify-2fa");
    await page.locator("#verify-code").pressSequentially(await totp("admin", secret));
    await expectText(page, "h1", "Dashboard");
    log("signed in with a TOTP code");

    // With a recovery code.
    await signOut(page);
    await signIn(page, "admin", PASSWORD);
    await page.waitForURL("**/login/2fa");
    await page.getByRole("button", { name: "Use a recovery code" }).click();
    await page.locator("#verify-recovery").fill(recovery[0]);
    await check(page, "verify-recovery-code");
    await page.getByRole("button", { name: "Verify" }).click();
    await expectText(page, "h1", "Dashboard");
    log("signed in with a recovery code");

    // A token: create (shown once), list, revoke.
    await page.getByRole("link", { name: "API tokens" }).click();
    await expectText(page, "h1", "API tokens");
    await expectText(page, ".empty", "No tokens yet");
    await page.locator("#token-name").fill("ci-script");
    await page.locator("#token-scope").selectOption("read");
    // The sign-in just now counts as a confirmation, so the server will not
    // ask for one here: answer the first try with reauth_required, as it
    // would after 10 minutes, to see the dialog ask and the app retry.
    let refused = false;
    await page.route("**/api/tokens", async (route) => {
      if (route.request().method() === "POST" && !refused) {
        refused = true;
        await route.fulfill({
          status: 403,
          contentType: "application/json",
          body: JSON.stringify({ error: { code: "reauth_required", message: "confirm it is you first" } }),
        });
      } else {
        await route.fallback();
      }
    });
    await page.getByRole("button", { name: "Create token" }).click();
    await page.getByRole("dialog").waitFor();
    await check(page, "reauth-dialog");
    if (!(await confirmIfAsked(page, PASSWORD, 1000))) problems.push("the reauth dialog did not ask");
    await page.unroute("**/api/tokens");
    await page.locator("[data-testid=secret]").waitFor();
    const token = (await page.locator("[data-testid=secret]").textContent()).trim();
    const viaToken = await fetch(`${base}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    if (viaToken.status !== 200) problems.push(`the new token does not work (${viaToken.status})`);
    await expectText(page, "[data-testid=tokens] td", "ci-script");
    await check(page, "tokens");
    await page.getByRole("button", { name: "Revoke: ci-script" }).click();
    await expectText(page, ".empty", "No tokens yet");
    const revoked = await fetch(`${base}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    if (revoked.status !== 401) problems.push(`a revoked token still works (${revoked.status})`);
    log("created and revoked a token");

    // Another session, ended from this one.
    const other = await newPage(browser, base, "admin-elsewhere");
    await signIn(other, "admin", PASSWORD);
    await other.waitForURL("**/login/2fa");
    await other.locator("#verify-code").pressSequentially(await totp("admin", secret));
    await expectText(other, "h1", "Dashboard");
    await page.getByRole("link", { name: "Security" }).click();
    await expectText(page, "h1", "Security");
    await page.getByRole("button", { name: "End", exact: true }).first().waitFor();
    await check(page, "security");
    await page.getByRole("button", { name: "End", exact: true }).first().click();
    await expectText(page, ".empty", "No other sessions");
    await other.reload();
    await other.waitForURL("**/login");
    log("ended another session");

    // The password.
    await page.locator("#pw-current").fill(PASSWORD);
    await page.locator("#pw-new").fill(NEW_PASSWORD);
    await page.locator("#pw-repeat").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    await confirmIfAsked(page, PASSWORD, 1000);
    await expectText(page, ".note.ok", "Password changed");
    await page.reload();
    await expectText(page, "h1", "Security");
    log("changed the password");

    // Admin: a new user with a temporary password.
    await page.getByRole("link", { name: "Users" }).click();
    await expectText(page, "h1", "Users");
    await page.locator("#new-username").fill("bob");
    await page.locator("#new-email").fill("bob@example.com");
    await page.getByRole("button", { name: "Create user" }).click();
    await confirmIfAsked(page, NEW_PASSWORD, 3000);
    await page.locator("[data-testid=secret]").waitFor();
    const temporary = (await page.locator("[data-testid=secret]").textContent()).trim();
    await expectText(page, "[data-testid=users] td", "bob");
    await check(page, "admin-users");
    await page.getByRole("link", { name: "Audit log" }).click();
    await expectText(page, "h2", "Everyone's audit log");
    await check(page, "admin-audit");
    log("created user bob");

    // Bob must change the temporary password first.
    const bob = await newPage(browser, base, "bob");
    await signIn(bob, "bob", temporary);
    await expectText(bob, "h1", "Choose a new password");
    await check(bob, "forced-password-change");
    await bob.locator("#pw-current").fill(temporary);
    await bob.locator("#pw-new").fill(BOB_PASSWORD);
    await bob.locator("#pw-repeat").fill(BOB_PASSWORD);
    await bob.getByRole("button", { name: "Change password" }).click();
    await expectText(bob, "h1", "Dashboard");
    await expectText(bob, "[data-testid=username]", "bob");
    log("bob chose his own password");

    // 403 and 404.
    await bob.goto("/admin");
    await expectText(bob, "h1", "Not allowed");
    await check(bob, "forbidden");
    await bob.goto("/no-such-page");
    await expectText(bob, "h1", "Page not found");
    await check(bob, "not-found");

    // Admin actions on bob (each may ask for a confirmation).
    await page.goto("/admin");
    await expectText(page, "[data-testid=users] td", "bob");
    const bobRow = page.locator("[data-testid=users] tr", { hasText: "bob@example.com" });
    await page.getByRole("button", { name: "Disable: bob" }).click();
    await confirmIfAsked(page, NEW_PASSWORD, 1000);
    await expectText(page, "[data-testid=users] tr", "disabled");
    await page.getByRole("button", { name: "Enable: bob" }).click();
    await confirmIfAsked(page, NEW_PASSWORD, 1000);
    await page.getByRole("button", { name: "Make admin: bob" }).click();
    await confirmIfAsked(page, NEW_PASSWORD, 1000);
    await bobRow.getByRole("button", { name: "Make user: bob" }).waitFor();
    await page.getByRole("button", { name: "Reset 2FA: bob" }).click();
    await confirmIfAsked(page, NEW_PASSWORD, 1000);
    await page.getByRole("button", { name: "Reset password: bob" }).click();
    await confirmIfAsked(page, NEW_PASSWORD, 1000);
    await expectText(page, "h3", "Temporary password of bob");
    await expectText(page, "[data-testid=users] tr", "must change password");
    await page.getByRole("button", { name: "Delete: bob" }).click();
    await page.getByRole("button", { name: "Really delete?: bob" }).click();
    await confirmIfAsked(page, NEW_PASSWORD, 1000);
    await bobRow.waitFor({ state: "detached", timeout: 10_000 });
    log("disabled, enabled, promoted, reset and deleted bob");

    // New recovery codes, then 2FA off.
    await page.goto("/security");
    await page.locator("#rc-code").fill(await totp("admin", secret));
    await page.getByRole("button", { name: "Make new recovery codes" }).click();
    await page.locator("[data-testid=recovery-codes] li").first().waitFor();
    const fresh = (await page.locator("[data-testid=recovery-codes] li").allTextContents()).map((c) => c.trim());
    if (fresh.includes(recovery[1])) problems.push("the new recovery codes repeat an old one");
    await page.locator("#disable-code").fill(await totp("admin", secret));
    await page.getByRole("button", { name: "Turn off two-factor authentication" }).click();
    await confirmIfAsked(page, NEW_PASSWORD, 1000);
    await expectText(page, '[data-testid="2fa-status"]', "Off");
    log("new recovery codes; 2FA off");

    // Part 2: the trading pages (frontend/e2e/trading.mjs).
    await trading({ page, base, password: NEW_PASSWORD, check, expectText, confirmIfAsked, totp, problems, log });

    // Figure: navigation to an interactive sign-in page (warm cache, as a
    // returning visitor; and cold, as a first visit).
    const times = [];
    for (let i = 0; i < 5; i++) {
      const fresh = await newPage(browser, base, "timing");
      const t0 = Date.now();
      await fresh.goto("/login");
      await fresh.locator("#login-username").waitFor({ state: "visible" });
      times.push(Date.now() - t0);
      await fresh.context().close();
    }
    times.sort((a, b) => a - b);
    log(`navigation to interactive sign-in page (fresh context, loopback): median ${times[2]} ms, min ${times[0]} ms, max ${times[4]} ms`);
    fs.writeFileSync(path.join(outDir, "timing.json"), JSON.stringify({ signInInteractiveMs: times }, null, 2));
  } finally {
    await browser.close();
    child.kill("SIGTERM");
  }
  log(`pages checked: ${[...visited].join(", ")}`);
  log(`screenshots in ${path.relative(root, outDir)}/`);
  if (problems.length) {
    console.error(`\n${problems.length} problem(s):`);
    for (const p of problems) console.error(` - ${p}`);
    process.exit(1);
  }
  log("all browser checks passed");
}

main().catch((err) => {
  console.error(err);
  if (problems.length) console.error(problems.join("\n"));
  process.exit(1);
});
