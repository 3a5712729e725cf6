// The TypeScript client's choice of wire, measured: Node encoding a full batch of 8,190
// transfers (and decoding its 8,190 results) with npm's capnp-es against JSON, on one core.
// Not part of the build; to run it (docs/benchmarks.md, "The TypeScript client"):
//
//   mkdir /tmp/capnp-es && cd /tmp/capnp-es && npm init -y && npm install capnp-es@0.0.16 typescript
//   sed '/^using Cxx/d; /^\$Cxx/d' <checkout>/net/ledger.capnp > ledger.capnp
//   npx capnp-es ledger.capnp -ojs && mv ledger.js ledger.mjs
//   cp <checkout>/bench/node_wire_compare.mjs . && node node_wire_compare.mjs
import * as $ from "capnp-es";
import { Ledger_CreateTransfers$Params as Params, Ledger_CreateTransfers$Results as Results } from "./ledger.mjs";
const N = 8190, ROUNDS = 40;
const M = (1n << 64n) - 1n;
const transfers = Array.from({ length: N }, (_, i) => ({ id: 1_000_000n + BigInt(i), debitAccountId: BigInt(1 + i % 10000),
  creditAccountId: BigInt(1 + (i + 1) % 10000), amount: BigInt(1 + i % 1000), ledger: 1, code: 1 }));
function capnpEncode() {
  const message = new $.Message();
  const params = message.initRoot(Params);
  const list = params._initTransfers(N);
  for (let i = 0; i < N; i++) {
    const t = transfers[i], out = list.get(i);
    const set = (init, v) => { const u = init.call(out); u.lo = v & M; u.hi = v >> 64n; };
    set(out._initId, t.id); set(out._initDebitAccountId, t.debitAccountId);
    set(out._initCreditAccountId, t.creditAccountId); set(out._initAmount, t.amount);
    out.ledger = t.ledger; out.code = t.code;
  }
  return message.toArrayBuffer();
}
function jsonEncode() {
  return JSON.stringify({ transfers: transfers.map((t) => ({ id: t.id.toString(), debitAccountId: t.debitAccountId.toString(),
    creditAccountId: t.creditAccountId.toString(), amount: t.amount.toString(), ledger: t.ledger, code: t.code })) });
}
// Results: 8190 x {status ok, timestamp}
const resultsMessage = (() => { const m = new $.Message(); const r = m.initRoot(Results)._initResults(N);
  for (let i = 0; i < N; i++) { r.get(i).timestampNs = 1796550411121561468n + BigInt(i); } return m.toArrayBuffer(); })();
const resultsJson = JSON.stringify({ results: Array.from({ length: N }, (_, i) => ({ status: "ok", timestampNs: String(1796550411121561468n + BigInt(i)) })) });
function capnpDecode() { const m = new $.Message(resultsMessage, false); const r = m.getRoot(Results).results; let s = 0n;
  for (let i = 0; i < N; i++) { const x = r.get(i); s += x.timestampNs + BigInt(x.status); } return s; }
function jsonDecode() { const r = JSON.parse(resultsJson).results; let s = 0n; for (const x of r) { s += BigInt(x.timestampNs) + (x.status === "ok" ? 0n : 1n); } return s; }
for (const [name, f] of [["capnp-es encode", capnpEncode], ["JSON encode", jsonEncode], ["capnp-es decode results", capnpDecode], ["JSON decode results", jsonDecode]]) {
  f(); const t0 = performance.now(); for (let r = 0; r < ROUNDS; r++) f(); const ms = (performance.now() - t0) / ROUNDS;
  console.log(`${name}: ${ms.toFixed(1)} ms a batch of ${N} = ${Math.round(N / ms * 1000).toLocaleString("en-US")} events/s`);
}
