// The server: what it is (info), whether it is well (health from its metrics), how much it may
// take (limits), and its throughput and latency live, from a scrape of its metrics each second.
import { useEffect, useState } from "preact/hooks";
import { type Scrape, type ServerInfo, type Session, errorText, labelValues, quantileBetween, scrape, sum } from "../api.js";
import { Chart } from "../chart.js";
import { formatCount, formatSeconds } from "../format.js";
import { ErrorBox, Fields } from "../ui.js";

const SCRAPE_INTERVAL_MS = 1000;
const SCRAPES_KEPT = 300;  // five minutes of charts
const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"];

export function ServerPage(props: { session: Session }) {
  const { session } = props;
  const [info, setInfo] = useState<ServerInfo>(session.info);
  const [scrapes, setScrapes] = useState<Scrape[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer = 0;
    const tick = async () => {
      try {
        const [taken, latest] = await Promise.all([scrape(session), session.client.info()]);
        if (stopped) return;
        setInfo(latest);
        setScrapes((kept) => [...kept.slice(-(SCRAPES_KEPT - 1)), taken]);
        setError(null);
      } catch (failure) {
        if (!stopped) setError(errorText(failure));
      }
      if (!stopped) timer = window.setTimeout(tick, SCRAPE_INTERVAL_MS);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [session]);

  const last = scrapes.at(-1);
  return (
    <section>
      <h1>Server</h1>
      {error && <ErrorBox message={`metrics: ${error}`} />}
      <div class="tiles" data-test="health">
        {last ? <Health info={info} last={last} /> : <p class="muted">Reading the metrics…</p>}
      </div>
      <div class="columns">
        <div>
          <h2>Server</h2>
          <Fields
            test="info"
            rows={[
              ["Last op", formatCount(info.lastOp)],
              ["Shards", String(info.shardCount)],
              ["Schema version", String(info.schemaVersion)],
              ["Started", last ? new Date(sum(last, "ledger_start_time_seconds") * 1000).toISOString().replace("T", " ").slice(0, 19) : ""],
            ]}
          />
        </div>
        <div>
          <h2>Limits</h2>
          <Fields
            test="limits"
            rows={[
              ["Events per batch", formatCount(info.limits.batchEventsMax)],
              ["Ids per lookup", formatCount(info.limits.queryIdsMax)],
              ["Results per page", formatCount(info.limits.queryResultsMax)],
              ["Largest message", `${formatCount(info.limits.messageBytesMax)} bytes`],
              ["Calls in flight per connection", formatCount(info.limits.inflightCallsMax)],
              ["Changes retained", formatCount(info.limits.feedRetention)],
            ]}
          />
        </div>
      </div>
      <Charts scrapes={scrapes} />
    </section>
  );
}

function Health(props: { info: ServerInfo; last: Scrape }) {
  const { last } = props;
  const has = (name: string) => [...last.series.keys()].some((key) => key.startsWith(name));
  const lastOp = sum(last, "ledger_last_op");
  const durableOp = sum(last, "ledger_durable_op");
  const full = sum(last, "ledger_storage_full") > 0;
  const tiles: Array<[string, string, "ok" | "warn" | "bad"]> = [
    ["Status", sum(last, "ledger_up") === 1 ? "up" : "down", sum(last, "ledger_up") === 1 ? "ok" : "bad"],
    ["Storage", full ? "full: refusing writes" : "room", full ? "bad" : "ok"],
    ["Durable op", `${formatCount(durableOp)} of ${formatCount(lastOp)}`, durableOp >= lastOp ? "ok" : "warn"],
    [
      "Accounts",
      `${formatCount(sum(last, "ledger_accounts"))} of ${formatCount(sum(last, "ledger_accounts_max"))}`,
      "ok",
    ],
    [
      "Transfers",
      `${formatCount(sum(last, "ledger_transfers"))}${has("ledger_cold_transfers") ? ` (${formatCount(sum(last, "ledger_cold_transfers"))} cold)` : ""}`,
      "ok",
    ],
    [
      "Connections",
      `${formatCount(sum(last, "ledger_connections"))} RPC, ${formatCount(sum(last, "ledger_http_connections"))} HTTP`,
      "ok",
    ],
    ["Memory", `${(sum(last, "process_resident_memory_bytes") / 2 ** 20).toFixed(0)} MiB resident`, "ok"],
  ];
  if (sum(last, "ledger_group_epoch") > 0) {  // a member of a replica group (docs/replication.md)
    const leading = sum(last, "ledger_group_leader") === 1;
    tiles.push([
      "Replica group",
      `${leading ? "leader" : "follower"}, epoch ${formatCount(sum(last, "ledger_group_epoch"))}, ${formatCount(sum(last, "ledger_group_in_sync_members"))} in sync`,
      "ok",
    ]);
  }
  return (
    <>
      {tiles.map(([label, value, level]) => (
        <div class={`tile ${level}`} key={label} data-tile={label}>
          <span class="label">{label}</span>
          <span class="value">{value}</span>
        </div>
      ))}
    </>
  );
}

function Charts(props: { scrapes: Scrape[] }) {
  const { scrapes } = props;
  const first = scrapes[0];
  const operations = first ? labelValues(first, "ledger_batch_latency_seconds_count", "operation") : [];
  const times_s: number[] = [];
  const rates = operations.map(() => [] as Array<number | null>);
  const p50: Array<number | null> = [];
  const p99: Array<number | null> = [];
  for (let i = 1; i < scrapes.length; i += 1) {
    const before = scrapes[i - 1]!;
    const after = scrapes[i]!;
    const seconds = (after.atMs - before.atMs) / 1000;
    times_s.push(after.atMs / 1000);
    operations.forEach((operation, j) => {
      const label = `operation="${operation}"`;
      rates[j]!.push((sum(after, "ledger_events_total", label) - sum(before, "ledger_events_total", label)) / seconds);
    });
    const median = quantileBetween(before, after, "ledger_batch_latency_seconds", 0.5);
    const tail = quantileBetween(before, after, "ledger_batch_latency_seconds", 0.99);
    p50.push(Number.isNaN(median) ? null : median * 1000);
    p99.push(Number.isNaN(tail) ? null : tail * 1000);
  }
  const lastP99 = p99.findLast((value) => value !== null);
  return (
    <div class="columns">
      <Chart
        title="Events booked per second, by operation"
        test="throughput"
        unit="events/s"
        times_s={times_s}
        series={operations.map((operation, j) => ({ label: operation, color: COLORS[j % COLORS.length]!, values: rates[j]! }))}
      />
      <Chart
        title={`Batch latency, receipt to durable reply${lastP99 != null ? ` (p99 now ${formatSeconds(lastP99 / 1000)})` : ""}`}
        test="latency"
        unit="ms"
        times_s={times_s}
        series={[
          { label: "p50", color: COLORS[0]!, values: p50 },
          { label: "p99", color: COLORS[4]!, values: p99 },
        ]}
      />
    </div>
  );
}
