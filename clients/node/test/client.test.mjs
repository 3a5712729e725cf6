// The TypeScript client against a real ledgerd (LEDGERD, default: the release build's).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  AccountFlags,
  AMOUNT_MAX,
  CreateTransferStatusNames,
  LedgerClient,
  LedgerError,
  TransferFlags,
} from "../dist/index.js";
import { Ledgerd } from "./server.mjs";

const LEDGER = 7;

async function setUp(client, accountIds) {
  assert.deepEqual((await client.createLedgers([{ id: LEDGER, assetCode: "USD", scale: 2 }]))
    .map((result) => result.status), ["ok"]);
  const results = await Promise.all(
    accountIds.map((id) => client.submitAccount({ id, ledger: LEDGER, code: 10 })));
  assert.deepEqual(results.map((result) => result.status), accountIds.map(() => "ok"));
}

describe("LedgerClient", () => {
  let server;
  before(async () => { server = await Ledgerd.create(); });
  after(async () => { await server.close(); });

  test("batches submissions automatically and reads back what a model expects", async () => {
    const client = new LedgerClient({ url: server.url, token: server.token });
    const accounts = Array.from({ length: 1000 }, (_, i) => 1000n + BigInt(i));
    await setUp(client, accounts);
    const model = new Map(accounts.map((id) => [id, { debits: 0n, credits: 0n }]));
    const transfers = [];
    let seed = 12345;
    const random = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    for (let i = 0; i < 20_000; i += 1) {
      const debit = accounts[random(accounts.length)];
      let credit = accounts[random(accounts.length)];
      if (credit === debit) credit = debit === 1000n ? 1001n : 1000n;
      const amount = BigInt(1 + random(1_000_000));
      transfers.push({ id: 1_000_000n + BigInt(i), debitAccountId: debit,
                       creditAccountId: credit, amount, ledger: LEDGER, code: 1 });
      model.get(debit).debits += amount;
      model.get(credit).credits += amount;
    }
    const before = client.stats.batchedRequests;
    const results = await Promise.all(transfers.map((transfer) => client.submitTransfer(transfer)));
    assert.ok(results.every((result) => result.status === "ok"));
    assert.ok(results.every((result) => typeof result.timestampNs === "bigint" && result.timestampNs > 0n));
    const requests = client.stats.batchedRequests - before;
    assert.ok(requests <= 20, `20,000 submissions took ${requests} requests`);
    const found = await client.lookupAccounts(accounts);
    assert.equal(found.length, accounts.length);
    for (const account of found) {
      const expected = model.get(account.id);
      assert.equal(account.debitsPosted, expected.debits, `account ${account.id}`);
      assert.equal(account.creditsPosted, expected.credits, `account ${account.id}`);
    }
    const trial = await client.trialBalance(LEDGER);
    assert.equal(trial.balanced, true);
    assert.equal(trial.accountCount, 1000n);
    // A resubmission of the same ids books nothing more.
    const again = await Promise.all(transfers.slice(0, 100).map((t) => client.submitTransfer(t)));
    assert.ok(again.every((result) => result.status === "exists"));
  });

  test("carries 128-bit ids and amounts without loss", async () => {
    const client = new LedgerClient({ url: server.url, token: server.token });
    const big = AMOUNT_MAX - 5n;
    const [a, b] = [big, big + 1n];
    assert.deepEqual((await client.createAccounts([
      { id: a, ledger: LEDGER, code: 10, userData128: AMOUNT_MAX, userData64: (1n << 64n) - 1n },
      { id: b, ledger: LEDGER, code: 10 },
    ])).map((r) => r.status), ["ok", "ok"]);
    const [booked] = await client.createTransfers([
      { id: big, debitAccountId: a, creditAccountId: b, amount: AMOUNT_MAX, ledger: LEDGER, code: 1 },
    ]);
    assert.equal(booked.status, "ok");
    const [debit, credit] = await client.lookupAccounts([a, b]);
    assert.equal(debit.debitsPosted, AMOUNT_MAX);
    assert.equal(debit.userData128, AMOUNT_MAX);
    assert.equal(debit.userData64, (1n << 64n) - 1n);
    assert.equal(credit.creditsPosted, AMOUNT_MAX);
    const { transfers } = await client.lookupTransfers([big]);
    assert.equal(transfers[0].amount, AMOUNT_MAX);
    assert.equal(transfers[0].id, big);
  });

  test("names result codes, keeps a linked chain whole, holds and posts", async () => {
    const client = new LedgerClient({ url: server.url, token: server.token });
    assert.ok(CreateTransferStatusNames.includes("exceedsCredits"));
    const limited = 5000n;
    await client.createAccounts([
      { id: limited, ledger: LEDGER, code: 10, flags: AccountFlags.debitsMustNotExceedCredits },
      { id: 5001n, ledger: LEDGER, code: 10 },
    ]);
    const plain = { id: 7000n, debitAccountId: 5001n, creditAccountId: limited, amount: 100n,
                    ledger: LEDGER, code: 1 };
    assert.equal((await client.submitTransfer(plain)).status, "ok");
    assert.equal((await client.submitTransfer(plain)).status, "exists");
    assert.equal((await client.submitTransfer({ ...plain, amount: 101n })).status,
                 "existsWithDifferentAmount");
    const chain = await client.submitTransfers([
      { id: 7001n, debitAccountId: limited, creditAccountId: 5001n, amount: 60n, ledger: LEDGER,
        code: 1, flags: TransferFlags.linked },
      { id: 7002n, debitAccountId: limited, creditAccountId: 5001n, amount: 60n, ledger: LEDGER,
        code: 1 },
    ]);
    assert.deepEqual(chain.map((r) => r.status), ["linkedEventFailed", "exceedsCredits"]);
    const [hold] = await client.createTransfers([
      { id: 7003n, debitAccountId: limited, creditAccountId: 5001n, amount: 80n, ledger: LEDGER,
        code: 1, flags: TransferFlags.pending, timeoutS: 3600 },
    ]);
    assert.equal(hold.status, "ok");
    const [post] = await client.createTransfers([
      { id: 7004n, debitAccountId: limited, creditAccountId: 5001n, amount: 30n, ledger: LEDGER,
        code: 1, flags: TransferFlags.postPending, pendingId: 7003n },
    ]);
    assert.equal(post.status, "ok");
    const [status] = await client.getTransferStatuses([7003n]);
    assert.equal(status.pendingStatus, "posted");
    assert.equal(status.postedAmount, 30n);
    assert.equal(status.releasedAmount, 50n);
    assert.equal(status.resolvedBy, 7004n);
    const page = await client.getAccountTransfers({ accountId: limited, limit: 10 });
    assert.deepEqual(page.transfers.map((t) => t.id), [7000n, 7003n, 7004n]);
  });

  test("refuses a wrong token at once, and a field the schema lacks before sending", async () => {
    const client = new LedgerClient({ url: server.url, token: "not-the-token-at-all" });
    const retries = client.stats.retries;
    await assert.rejects(client.info(), (error) => {
      assert.ok(error instanceof LedgerError);
      assert.equal(error.status, 401);
      assert.equal(error.code, "unauthenticated");
      return true;
    });
    assert.equal(client.stats.retries, retries);
    const good = new LedgerClient({ url: server.url, token: server.token });
    await assert.rejects(good.createAccounts([{ id: 1n, ledger: 1, code: 1, memo: "x" }]),
                         /Account has no field memo/);
    await assert.rejects(good.createAccounts([{ id: 1.5, ledger: 1, code: 1 }]),
                         /expected a bigint/);
  });

  test("pages through the ledgers, verifies the log, and says what the token may do", async () => {
    const client = new LedgerClient({ url: server.url, token: server.token });
    const info = await client.info();
    assert.equal(info.role, "admin");
    assert.deepEqual(info.ledgers, []);
    assert.equal(typeof info.changeSequenceNext, "bigint");
    const ids = [];
    for (let from = 0; ; ) {
      const page = await client.queryLedgers(from, 1);
      ids.push(...page.ledgers.map((ledger) => ledger.id));
      if (page.nextId === 0) break;
      from = page.nextId;
    }
    assert.ok(ids.includes(LEDGER), `ledgers ${ids}`);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
    let verification = await client.verifyLog(true);
    while (verification.state === "running") verification = await client.verifyLog();
    assert.equal(verification.state, "intact", verification.message);
    assert.equal(verification.firstOp, 1n);
    assert.equal(verification.checkedOp, verification.throughOp);
    assert.ok(verification.entries > 0n);
  });
});

describe("LedgerClient across restarts", () => {
  test("retries an idempotent batch while the server is down, then reads exists", async () => {
    const server = await Ledgerd.create();
    try {
      const client = new LedgerClient({ url: server.url, token: server.token });
      await setUp(client, [1n, 2n]);
      assert.equal(await server.stop(), 0);
      const batch = [{ id: 10n, debitAccountId: 1n, creditAccountId: 2n, amount: 5n,
                       ledger: LEDGER, code: 1 }];
      const pending = client.createTransfers(batch);
      await new Promise((done) => setTimeout(done, 500));
      await server.start();
      assert.deepEqual((await pending).map((r) => r.status), ["ok"]);
      assert.ok(client.stats.retries > 0);
      assert.deepEqual((await client.createTransfers(batch)).map((r) => r.status), ["exists"]);
    } finally {
      await server.close();
    }
  });

  test("the change feed resumes after a restart with no change skipped or repeated", async () => {
    const server = await Ledgerd.create();
    try {
      const client = new LedgerClient({ url: server.url, token: server.token });
      await setUp(client, [1n, 2n]);
      const book = (from, count) => client.createTransfers(Array.from({ length: count }, (_, i) => ({
        id: BigInt(from + i), debitAccountId: 1n, creditAccountId: 2n, amount: BigInt(from + i),
        ledger: LEDGER, code: 1 })));
      await book(100, 10);
      const seen = [];
      let restarted = false;
      for await (const change of client.changes({ from: 0n })) {
        seen.push(change);
        if (seen.length === 10 && !restarted) {
          restarted = true;
          assert.equal(await server.stop(), 0);
          await server.start();
          await book(200, 10);
        }
        if (seen.length === 20) break;
      }
      assert.deepEqual(seen.map((c) => c.sequence), Array.from({ length: 20 }, (_, i) => BigInt(i)));
      assert.deepEqual(seen.slice(10).map((c) => c.transfer.id),
                       Array.from({ length: 10 }, (_, i) => BigInt(200 + i)));
      assert.equal(seen[19].creditBalance.creditsPosted,
                   Array.from({ length: 10 }, (_, i) => BigInt(100 + i) + BigInt(200 + i))
                     .reduce((a, b) => a + b));
      assert.ok(client.stats.retries > 0);
    } finally {
      await server.close();
    }
  });
});
