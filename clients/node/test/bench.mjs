// The client's throughput with automatic batching: ledger-bench's default workload (10,000
// accounts, uniform random plain transfers) submitted one transfer at a time, never more than
// `window` unanswered, against a fresh ledgerd. Prints transfers/s and the requests it took.
//   LEDGER_BENCH_TRANSFERS=1000000 npm run bench
import { LedgerClient } from "../dist/index.js";
import { Ledgerd } from "./server.mjs";

const transfers = Number(process.env.LEDGER_BENCH_TRANSFERS ?? 1_000_000);
const accounts = 10_000;
const window = 4 * 8190;
const server = await Ledgerd.create();
try {
  const client = new LedgerClient({ url: server.url, token: server.token });
  await client.createLedgers([{ id: 1, assetCode: "USD", scale: 2 }]);
  for (let start = 0; start < accounts; start += 8190) {
    await client.createAccounts(Array.from({ length: Math.min(8190, accounts - start) },
      (_, i) => ({ id: BigInt(1 + start + i), ledger: 1, code: 1 })));
  }
  let seed = 1;
  const random = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  let failed = 0;
  let unanswered = 0;
  let wake;
  const started = performance.now();
  for (let i = 0; i < transfers; i += 1) {
    const debit = 1 + random(accounts);
    const credit = 1 + ((debit + random(accounts - 1)) % accounts);
    unanswered += 1;
    client.submitTransfer({ id: BigInt(1_000_000 + i), debitAccountId: BigInt(debit),
                            creditAccountId: BigInt(credit), amount: BigInt(1 + random(1000)),
                            ledger: 1, code: 1 })
      .then((result) => {
        if (result.status !== "ok") failed += 1;
        unanswered -= 1;
        if (wake && unanswered < window / 2) { wake(); wake = undefined; }
      });
    if (unanswered >= window) await new Promise((done) => { wake = done; });
  }
  while (unanswered > 0) await new Promise((done) => setTimeout(done, 1));
  const seconds = (performance.now() - started) / 1000;
  if (failed > 0) throw new Error(`${failed} transfers were not ok`);
  const trial = await client.trialBalance(1);
  if (!trial.balanced) throw new Error("the trial balance does not balance");
  console.log(`node client: ${transfers} transfers in ${seconds.toFixed(2)} s: ` +
              `${Math.round(transfers / seconds).toLocaleString("en-US")} transfers/s, ` +
              `${client.stats.batchedRequests} requests (${Math.round(client.stats.batchedEvents / client.stats.batchedRequests)} a request); validated`);
} finally {
  await server.close();
}
