// A known ledger for the console's tests and screenshots: three ledgers, accounts to search and
// page through, postings, holds posted, voided and expired, a reversal and a recorded failure,
// with a model of what every balance and trial balance must be.
import assert from "node:assert/strict";
import { AccountFlags, TransferFlags } from "../../clients/node/dist/index.js";

export const USD = 1;
export const EUR = 2;
export const JPY = 3;
export const OPERATING = 1001n;  // USD, code 10, history flag
export const CUSTOMER = 1002n;   // USD, code 20, debits must not exceed credits
export const SPREAD = Array.from({ length: 40 }, (_, i) => 2001n + BigInt(i));  // USD, code 30
export const PAYMENTS = Array.from({ length: 60 }, (_, i) => 11001n + BigInt(i));
export const HOLD_POSTED = 12001n;
export const POST = 12002n;
export const HOLD_VOIDED = 12003n;
export const VOID = 12004n;
export const HOLD_EXPIRING = 12005n;
export const REVERSAL = 12006n;
export const FAILED = 12007n;
export const HOLD_OPEN = 12008n;  // stays pending

/** The order id the i-th payment carries in its user data (as an orchestrator's would). */
export const orderOf = (i) => 900_000n + BigInt(i);

/** Books the known ledger through `client` (a writer's) and returns the model. */
export async function seed(client) {
  const model = new Model();
  const ok = (results, what) =>
    assert.deepEqual(results.map((result) => result.status), results.map(() => "ok"), what);
  ok(await client.createLedgers([
    { id: USD, assetCode: "USD", scale: 2 },
    { id: EUR, assetCode: "EUR", scale: 2 },
    { id: JPY, assetCode: "JPY", scale: 0 },
  ]), "ledgers");
  const accounts = [
    { id: OPERATING, ledger: USD, code: 10, flags: AccountFlags.history, userData128: 7001n },
    { id: CUSTOMER, ledger: USD, code: 20, flags: AccountFlags.debitsMustNotExceedCredits, userData128: 7002n },
    ...SPREAD.map((id) => ({ id, ledger: USD, code: 30, userData64: 42n })),
    { id: 3001n, ledger: EUR, code: 10 },
    { id: 3002n, ledger: EUR, code: 10 },
    { id: 4001n, ledger: JPY, code: 10 },
    { id: 4002n, ledger: JPY, code: 10 },
  ];
  ok(await client.createAccounts(accounts), "accounts");
  for (const account of accounts) model.account(account.id, account.ledger);

  const plain = (id, debit, credit, amount, code, ledger = USD) =>
    ({ id, debitAccountId: debit, creditAccountId: credit, amount, ledger, code });
  const postings = [
    plain(10001n, OPERATING, CUSTOMER, 1_000_000n, 1),
    ...PAYMENTS.map((id, i) => ({
      ...plain(id, CUSTOMER, OPERATING, BigInt(i + 1) * 100n, i % 2 === 0 ? 1 : 2), userData128: orderOf(i),
    })),
    ...SPREAD.map((id, i) => plain(20000n + BigInt(i), OPERATING, id, 500n, 3)),
    plain(13001n, 3001n, 3002n, 12_345n, 1, EUR),
    plain(14001n, 4001n, 4002n, 999n, 1, JPY),
  ];
  ok(await client.createTransfers(postings), "postings");
  for (const t of postings) model.post(t.debitAccountId, t.creditAccountId, t.amount);

  const hold = (id, amount, timeoutS = 0) => ({
    ...plain(id, CUSTOMER, OPERATING, amount, 4), flags: TransferFlags.pending, timeoutS,
  });
  ok(await client.createTransfers([
    hold(HOLD_POSTED, 2500n), hold(HOLD_VOIDED, 700n), hold(HOLD_EXPIRING, 300n, 1), hold(HOLD_OPEN, 450n),
  ]), "holds");
  model.hold(CUSTOMER, OPERATING, 450n);
  ok(await client.createTransfers([
    { ...plain(POST, CUSTOMER, OPERATING, 2000n, 4), pendingId: HOLD_POSTED, flags: TransferFlags.postPending },
    { ...plain(VOID, CUSTOMER, OPERATING, 700n, 4), pendingId: HOLD_VOIDED, flags: TransferFlags.voidPending },
    { ...plain(REVERSAL, OPERATING, CUSTOMER, 100n, 1), reversesId: PAYMENTS[0] },
  ]), "post, void, reversal");
  model.post(CUSTOMER, OPERATING, 2000n);
  model.post(OPERATING, CUSTOMER, 100n);
  const [failed] = await client.createTransfers([plain(FAILED, CUSTOMER, OPERATING, 10n ** 12n, 5)]);
  assert.equal(failed.status, "exceedsCredits");
  // The server expires the 1-second hold on its own; the model (and the pages) wait for it.
  for (let waited_ms = 0; ; waited_ms += 50) {
    const [status] = await client.getTransferStatuses([HOLD_EXPIRING]);
    if (status.pendingStatus === "expired") break;
    assert.ok(waited_ms < 10_000, `the 1-second hold is still ${status.pendingStatus} after 10 s`);
    await new Promise((done) => setTimeout(done, 50));
  }
  return model;
}

export class Model {
  accounts = new Map();

  account(id, ledger) {
    this.accounts.set(id, { ledger, debitsPosted: 0n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n });
  }
  post(debit, credit, amount) {
    this.accounts.get(debit).debitsPosted += amount;
    this.accounts.get(credit).creditsPosted += amount;
  }
  hold(debit, credit, amount) {
    this.accounts.get(debit).debitsPending += amount;
    this.accounts.get(credit).creditsPending += amount;
  }
  /** The sums of a ledger's accounts (its trial balance). */
  trial(ledger) {
    const sums = { accountCount: 0, debitsPosted: 0n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n };
    for (const account of this.accounts.values()) {
      if (account.ledger !== ledger) continue;
      sums.accountCount += 1;
      for (const key of ["debitsPosted", "creditsPosted", "debitsPending", "creditsPending"]) sums[key] += account[key];
    }
    return sums;
  }
}

/** The console's way of showing an amount (its format.ts), for expected text. */
export function amountText(amount, scale) {
  const digits = amount.toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return scale > 0 ? `${whole}.${digits.slice(digits.length - scale)}` : whole;
}
