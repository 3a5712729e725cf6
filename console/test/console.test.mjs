// The console in a real browser: Debian's Chromium, headless, driven by Playwright
// (playwright-core), against a real ledgerd serving the built console (npm run build) with a
// known ledger booked (seed.mjs). The console logs in with a read-only token.
//
// CONSOLE_SCREENSHOTS=DIR saves a screenshot of each page there (docs/console.md's).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

import { LedgerClient } from "../../clients/node/dist/index.js";
import { LEDGERD, Ledgerd } from "../../clients/node/test/server.mjs";
import {
  CUSTOMER, EUR, FAILED, HOLD_EXPIRING, HOLD_OPEN, HOLD_POSTED, HOLD_VOIDED, JPY, OPERATING, PAYMENTS, POST,
  REVERSAL, USD, VOID, amountText, orderOf, seed,
} from "./seed.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const DIST = resolve(here, "../dist");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS;
// Without the background-networking flags Chromium dials Google's hosts at every start.
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

// A load that rises and falls, for the screenshot of the server page's charts.
async function bookForAWhile(writer, model, duration_ms) {
  const start = Date.now();
  for (let round = 0; Date.now() - start < duration_ms; round += 1) {
    const size = 200 + Math.round(1800 * Math.abs(Math.sin(round / 15)));
    const transfers = Array.from({ length: size }, (_, i) => ({
      id: 1_000_000n + BigInt(round) * 10_000n + BigInt(i), debitAccountId: 3001n, creditAccountId: 3002n,
      amount: 1n, ledger: EUR, code: 8,
    }));
    const results = await writer.createTransfers(transfers);
    assert.ok(results.every((result) => result.status === "ok"));
    model.post(3001n, 3002n, BigInt(size));
    await new Promise((done) => setTimeout(done, 50));
  }
}

describe("the operator console", () => {
  let server;
  let writer;
  let model;
  let browser;
  let page;
  let secrets;
  const readToken = randomBytes(16).toString("hex");
  const adminToken = randomBytes(16).toString("hex");
  const requested = [];

  before(async () => {
    secrets = mkdtempSync(join(tmpdir(), "ledger-console-"));
    const tokensFile = join(secrets, "tokens");
    writeFileSync(tokensFile, `admin ${adminToken}\nread ${readToken}\n`, { mode: 0o600 });
    // A checkpoint key (made by `ledgerd init` in a directory of its own): the log page lists the
    // keyed checkpoints the server signs, every 4 ops.
    const key = join(secrets, "checkpoint.key");
    const init = spawnSync(LEDGERD, ["init", "--data-dir", join(secrets, "keygen"), "--checkpoint-key-file", key], { encoding: "utf8" });
    assert.equal(init.status, 0, init.stderr);
    server = await Ledgerd.create([
      "--tokens-file", tokensFile, "--console-dir", DIST, "--shards", "2",
      "--checkpoint-key-file", key, "--checkpoint-file", join(secrets, "checkpoints"), "--checkpoint-interval-ops", "4",
    ]);
    writer = new LedgerClient({ url: server.url, token: adminToken });
    model = await seed(writer);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on("request", (request) => requested.push(request.url()));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(secrets, { recursive: true, force: true });
  });

  const open = async (route) => {
    await page.goto(`${server.url}/console/#/${route}`);
    await page.waitForFunction((hash) => document.body.dataset.rendered === hash, `#/${route}`);
    await settled();
  };
  // Every load of the page answered: a part that loads shows its "Loading…" from its first render.
  const settled = () => page.waitForFunction(() => document.querySelector("main") && !document.querySelector("[data-test=loading]"));
  const field = (test, label) => page.locator(`[data-test=${test}] dd[data-field="${label}"]`);
  const rows = (test) => page.locator(`table[data-test=${test}] tbody tr`);
  const shoot = async (name, fullPage = true) => {
    if (!SCREENSHOTS) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
  };

  test("refuses a wrong token, then logs in with a read-only one", async () => {
    await page.goto(`${server.url}/`);
    assert.equal(new URL(page.url()).pathname, "/console/");
    await page.fill("input[name=token]", "not-a-token");
    await page.click("form[data-test=login] button[type=submit]");
    await page.locator("[data-test=error]").waitFor();
    assert.match(await page.locator("[data-test=error]").innerText(), /unauthenticated/);
    await shoot("login");
    await page.fill("input[name=token]", readToken);
    await page.click("form[data-test=login] button[type=submit]");
    await page.locator("header nav").waitFor();
    assert.equal(await page.locator("[data-test=role]").innerText(), "read-only");
  });

  test("the server page shows info, limits, health and live charts", async () => {
    await open("server");
    await page.locator("[data-tile=Status]").waitFor();
    assert.match(await page.locator("[data-tile=Status] .value").innerText(), /^up$/);
    assert.equal(await field("info", "Shards").innerText(), "2");
    assert.equal(await field("limits", "Events per batch").innerText(), "8,190");
    // Booked while the page scrapes: the throughput chart has points, the tiles the counts.
    const results = await writer.createTransfers(
      Array.from({ length: 50 }, (_, i) => ({
        id: 50_000n + BigInt(i), debitAccountId: 3001n, creditAccountId: 3002n, amount: 1n, ledger: EUR, code: 9,
      })));
    assert.ok(results.every((result) => result.status === "ok"));
    model.post(3001n, 3002n, 50n);
    await page.waitForFunction(() => Number(document.querySelector("[data-test=throughput] [data-points]")?.getAttribute("data-points")) >= 3);
    const transfers = await page.locator("[data-tile=Transfers] .value").innerText();
    assert.match(transfers, /^1(\d|,)*/);
    if (SCREENSHOTS) await bookForAWhile(writer, model, 20_000);  // charts with a shape
    await shoot("server");
  });

  test("the ledgers page shows each ledger's trial balance in its units", async () => {
    await open("ledgers");
    assert.equal(await rows("ledgers").count(), 3);
    for (const [ledger, scale] of [[USD, 2], [EUR, 2], [JPY, 0]]) {
      const expected = model.trial(ledger);
      const row = page.locator(`tr[data-ledger="${ledger}"]`);
      for (const key of ["debitsPosted", "creditsPosted", "debitsPending", "creditsPending"]) {
        assert.equal(await row.locator(`[data-field=${key}]`).innerText(), amountText(expected[key], scale), `ledger ${ledger} ${key}`);
      }
      assert.match(await row.locator("[data-field=balanced]").innerText(), /yes/);
    }
    await shoot("ledgers");
  });

  test("account search finds by code, id and user data, and pages", async () => {
    await open("accounts?code=30");
    assert.equal(await rows("accounts").count(), 25);
    assert.equal(await rows("accounts").first().getAttribute("data-account"), "2001");
    await shoot("accounts");
    await page.click("[data-test=next]");
    await page.locator("[data-test=page]", { hasText: "Page 2" }).waitFor();
    assert.equal(await rows("accounts").count(), 15);
    assert.equal(await rows("accounts").first().getAttribute("data-account"), "2026");
    assert.ok(await page.locator("[data-test=next]").isDisabled());
    await page.click("[data-test=previous]");
    await page.locator("[data-test=page]", { hasText: "Page 1" }).waitFor();
    assert.equal(await rows("accounts").first().getAttribute("data-account"), "2001");

    await open(`accounts?id=${OPERATING}`);
    assert.equal(await rows("accounts").count(), 1);
    const operating = model.accounts.get(OPERATING);
    const row = rows("accounts").first();
    assert.equal(await row.locator("[data-field=creditsPosted]").innerText(), amountText(operating.creditsPosted, 2));
    assert.equal(await row.locator("[data-field=debitsPosted]").innerText(), amountText(operating.debitsPosted, 2));
    assert.equal(await row.locator("[data-field=creditsPending]").innerText(), amountText(operating.creditsPending, 2));

    await open("accounts?userData128=7002");
    assert.equal(await rows("accounts").count(), 1);
    assert.equal(await rows("accounts").first().getAttribute("data-account"), String(CUSTOMER));
    await open("accounts?userData64=42&ledger=1");
    assert.equal(await rows("accounts").count(), 25);

    // A search that is not a number is refused in the page, and nothing is asked.
    await page.fill("input[name=id]", "12ab");
    await page.click("form[data-test=account-search] button[type=submit]");
    assert.match(await page.locator("form[data-test=account-search] [data-test=error]").innerText(), /not an id/);
  });

  test("an account shows its balances, a balance chart and its history with filters and pages", async () => {
    await open(`account/${OPERATING}`);
    const operating = model.accounts.get(OPERATING);
    assert.equal(await field("balances", "Credits posted").innerText(), amountText(operating.creditsPosted, 2));
    assert.equal(await field("balances", "Debits posted").innerText(), amountText(operating.debitsPosted, 2));
    const { balances } = await writer.getAccountBalances({ accountId: OPERATING, limit: 1000 });
    const chart = page.locator("[data-test=balance-chart] [data-points]");
    await chart.waitFor();
    assert.equal(Number(await chart.getAttribute("data-points")), balances.length);
    await shoot("account", false);
    assert.equal(Number(await chart.getAttribute("data-last")), Number(operating.creditsPosted - operating.debitsPosted) / 100);

    // Without the history flag the chart is worked back from today's balance through every
    // transfer, holds, posts, voids and a reversal among them: it must land on the balance
    // right after the first, 10001's 10,000.00 in.
    await open(`account/${CUSTOMER}`);
    const customer = model.accounts.get(CUSTOMER);
    const { transfers } = await writer.getAccountTransfers({ accountId: CUSTOMER, limit: 1000 });
    const worked = page.locator("[data-test=balance-chart] [data-points]");
    assert.equal(Number(await worked.getAttribute("data-points")), transfers.length);
    assert.equal(Number(await worked.getAttribute("data-last")), Number(customer.creditsPosted - customer.debitsPosted) / 100);
    assert.equal(transfers[0].id, 10001n);
    assert.equal(Number(await worked.getAttribute("data-first")), 10_000);
    await open(`account/${OPERATING}`);

    // 108 transfers: 10001, 60 payments, 40 to the spread accounts, 4 holds, post, void, reversal.
    const sizes = [];
    for (let page_ = 1; ; page_ += 1) {
      await page.locator("[data-test=page]", { hasText: `Page ${page_}` }).waitFor();
      await rows("history").first().waitFor();
      sizes.push(await rows("history").count());
      if (await page.locator("[data-test=next]").isDisabled()) break;
      await page.click("[data-test=next]");
    }
    assert.deepEqual(sizes, [25, 25, 25, 25, 8]);
    await page.click("[data-test=previous]");
    await page.locator("[data-test=page]", { hasText: "Page 4" }).waitFor();

    await open(`account/${OPERATING}?code=2`);
    assert.equal(await rows("history").count(), 25);
    await page.click("[data-test=next]");
    await page.locator("[data-test=page]", { hasText: "Page 2" }).waitFor();
    assert.equal(await rows("history").count(), 5);  // 30 payments with code 2

    await open(`account/${OPERATING}?code=1&debits=0`);  // credits with code 1: 30 payments
    await page.click("[data-test=next]");
    await page.locator("[data-test=page]", { hasText: "Page 2" }).waitFor();
    assert.equal(await rows("history").count(), 5);

    await open(`account/${OPERATING}?newest=1`);
    assert.equal(await rows("history").first().getAttribute("data-transfer"), String(REVERSAL));
    assert.equal(await rows("history").first().locator("[data-field=amount]").innerText(), "−1.00");
  });

  test("transfer search finds by user data and by code, newest first, and pages", async () => {
    await open(`transfers?userData128=${orderOf(5)}`);
    assert.equal(await rows("transfers").count(), 1);
    assert.equal(await rows("transfers").first().getAttribute("data-transfer"), String(PAYMENTS[5]));
    assert.equal(await rows("transfers").first().locator("[data-field=amount]").innerText(), "6.00");

    await open("transfers?ledger=1&code=2");
    assert.equal(await page.inputValue("input[name=userData128]"), "");  // the form is the route's
    assert.equal(await page.inputValue("input[name=code]"), "2");
    assert.equal(await rows("transfers").count(), 25);
    assert.equal(await rows("transfers").first().getAttribute("data-transfer"), String(PAYMENTS[59]));
    await shoot("transfers", false);
    await page.click("[data-test=next]");
    await page.locator("[data-test=page]", { hasText: "Page 2" }).waitFor();
    assert.equal(await rows("transfers").count(), 5);
    assert.equal(await rows("transfers").last().getAttribute("data-transfer"), String(PAYMENTS[1]));
  });

  test("a transfer shows what became of it: posted, voided, expired, reversed, failed", async () => {
    await open(`transfer/${HOLD_POSTED}`);
    assert.equal(await field("status", "Hold").innerText(), "posted");
    assert.equal(await field("status", "Posted").innerText(), "20.00");
    assert.equal(await field("status", "Released").innerText(), "5.00");
    assert.equal(await field("status", "Resolved by").innerText(), String(POST));
    await shoot("transfer");

    await open(`transfer/${HOLD_VOIDED}`);
    assert.equal(await field("status", "Hold").innerText(), "voided");
    assert.equal(await field("status", "Resolved by").innerText(), String(VOID));

    await open(`transfer/${HOLD_EXPIRING}`);  // seed() waited for the server to expire it
    assert.equal(await field("status", "Hold").innerText(), "expired");
    assert.equal(await field("status", "Released").innerText(), "3.00");

    await open(`transfer/${HOLD_OPEN}`);
    assert.equal(await field("status", "Hold").innerText(), "held: pending");
    // A reader is not offered the hold's post and void.
    await page.locator("[data-test=read-only]").waitFor();
    assert.equal(await page.locator("[data-test=post-hold]").count(), 0);

    await open(`transfer/${PAYMENTS[0]}`);
    assert.equal(await field("status", "Reversed").innerText(), "1.00 in 1 reversal");
    assert.equal(await page.locator("[data-test=reversals] a").innerText(), String(REVERSAL));
    await page.click("[data-test=reversals] a");
    await page.locator("h1", { hasText: `Transfer ${REVERSAL}` }).waitFor();
    assert.equal(await field("transfer", "Reverses").innerText(), String(PAYMENTS[0]));

    await open(`transfer/${FAILED}`);
    assert.match(await page.locator("[data-test=failure]").innerText(), /exceedsCredits/);
  });

  test("the change feed follows new changes live", async () => {
    await open("feed");
    // It starts 50 changes before the feed's end.
    await page.waitForFunction(() => document.querySelectorAll("table[data-test=feed] tbody tr").length === 50);
    const ids = Array.from({ length: 5 }, (_, i) => 60_000n + BigInt(i));
    const results = await writer.createTransfers(ids.map((id) => ({
      id, debitAccountId: 4001n, creditAccountId: 4002n, amount: 1000n, ledger: JPY, code: 7,
    })));
    assert.ok(results.every((result) => result.status === "ok"));
    for (const id of ids) {
      await page.locator(`table[data-test=feed] a[href="#/transfer/${id}"]`).waitFor({ timeout: 10_000 });
    }
    // Newest first; amounts in the ledger's units (JPY: scale 0).
    const first = rows("feed").first();
    assert.equal(await first.locator("a").first().innerText(), String(ids.at(-1)));
    assert.equal(await first.locator("[data-field=amount]").innerText(), "1,000");
    await shoot("feed", false);
  });

  test("the log page verifies the log on disk", async () => {
    await open("log");
    await page.click("[data-test=verify]");
    await page.locator("[data-test=verification-state]", { hasText: "intact" }).waitFor({ timeout: 30_000 });
    const ops = await field("verification", "Ops").innerText();
    assert.match(ops, /^1 to [\d,]+ of [\d,]+$/);
    // The keyed checkpoints, newest first, each its signed line.
    const checkpoints = await writer.checkpoints(0n);
    assert.ok(checkpoints.length > 0);
    assert.equal(await rows("checkpoints").count(), Math.min(20, checkpoints.length));
    assert.equal(await rows("checkpoints").first().locator("code.line").innerText(), checkpoints.at(-1).line);
    await shoot("log");
  });

  test("a writer posts a hold after confirming exactly what it books", async () => {
    const writerToken = randomBytes(16).toString("hex");
    writeFileSync(join(secrets, "tokens"), `admin ${adminToken}\nread ${readToken}\nwrite ${writerToken} ledgers=1\n`);
    process.kill(server.child.pid, "SIGHUP");
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const tab = await context.newPage();
    tab.on("request", (request) => requested.push(request.url()));
    const probe = new LedgerClient({ url: server.url, token: writerToken, retryTimeoutMs: 0 });
    for (let waited_ms = 0; !(await probe.info().then(() => true, () => false)); waited_ms += 50) {
      assert.ok(waited_ms < 10_000, "SIGHUP's reload did not take the writer's token");
      await new Promise((done) => setTimeout(done, 50));
    }
    await tab.goto(`${server.url}/console/`);
    await tab.fill("input[name=token]", writerToken);
    await tab.click("form[data-test=login] button[type=submit]");
    await tab.locator("header nav").waitFor();
    assert.equal(await tab.locator("[data-test=role]").innerText(), "write, ledgers 1");
    await tab.goto(`${server.url}/console/#/transfer/${HOLD_OPEN}`);
    await tab.click("[data-test=post-hold]");
    await tab.fill("[data-test=confirm] input[name=amount]", "5.00");
    assert.match(await tab.locator("[data-test=confirm] [data-test=error]").innerText(), /from 0 to the hold's 4\.50/);
    assert.ok(await tab.locator("[data-test=book]").isDisabled());
    await tab.fill("[data-test=confirm] input[name=amount]", "2.00");
    const text = await tab.locator("[data-test=confirm-text]").innerText();
    assert.match(text, new RegExp(`a post of 2\\.00 USD from hold ${HOLD_OPEN}, moving it from account ${CUSTOMER} to account ${OPERATING}; the rest of the hold \\(2\\.50 USD\\) goes back`));
    if (SCREENSHOTS) await tab.screenshot({ path: join(SCREENSHOTS, "confirm.png") });
    await tab.click("[data-test=book]");
    await tab.locator("[data-test=booked]").waitFor();
    await tab.locator("[data-test=status] dd[data-field=Hold]", { hasText: "posted" }).waitFor();
    assert.equal(await tab.locator("[data-test=status] dd[data-field=Posted]").innerText(), "2.00");
    assert.equal(await tab.locator("[data-test=status] dd[data-field=Released]").innerText(), "2.50");
    const [customer, operating] = await writer.lookupAccounts([CUSTOMER, OPERATING]);
    const before = [model.accounts.get(CUSTOMER), model.accounts.get(OPERATING)];
    assert.equal(customer.debitsPosted, before[0].debitsPosted + 200n);
    assert.equal(customer.debitsPending, before[0].debitsPending - 450n);
    assert.equal(operating.creditsPosted, before[1].creditsPosted + 200n);
    assert.equal(operating.creditsPending, before[1].creditsPending - 450n);
    await context.close();
  });

  test("asks nothing of any other origin", () => {
    assert.ok(requested.length > 0);
    const elsewhere = requested.filter((url) => !url.startsWith(`${server.url}/`));
    assert.deepEqual(elsewhere, []);
  });
});
