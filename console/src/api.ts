// The console's session with ledgerd: the TypeScript client of the HTTP/JSON API
// (clients/node, which uses only fetch and so runs in the browser too), the metrics, and the
// ledgers' scales for showing amounts.
import {
  LedgerClient,
  LedgerError,
  type LedgerInfo,
  type ServerInfo,
} from "../../clients/node/src/index.js";

export * from "../../clients/node/src/index.js";

const TOKEN_KEY = "ledger-console-token";

export interface Session {
  client: LedgerClient;
  token: string;
  info: ServerInfo;
}

function newClient(token: string): LedgerClient {
  // A console shows errors at once rather than retrying for long: the user can retry.
  return new LedgerClient({
    url: location.origin,
    token,
    retryTimeoutMs: 1500,
    requestTimeoutMs: 20_000,
  });
}

/** Logs in with `token` (any role): the server's info proves it is accepted. */
export async function login(token: string): Promise<Session> {
  const client = newClient(token);
  const info = await client.info();
  sessionStorage.setItem(TOKEN_KEY, token);
  return { client, token, info };
}

/** The token of this tab's session, if it logged in before a reload. */
export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function logout(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  ledgerCache.clear();  // the next token may see other ledgers
}

/** A user-facing message for an error of a call. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;  // a LedgerError's starts with its code
  return String(error);
}

// ------------------------------------------------------------------------------------------
// Ledgers, cached: their scale says how to show amounts.

const ledgerCache = new Map<number, Promise<LedgerInfo | undefined>>();

export function ledgerInfo(session: Session, id: number): Promise<LedgerInfo | undefined> {
  let found = ledgerCache.get(id);
  if (found === undefined) {
    found = session.client.lookupLedgers([id]).then((ledgers) => ledgers[0]);
    found.catch(() => ledgerCache.delete(id));
    ledgerCache.set(id, found);
  }
  return found;
}

/** A page of the ledgers the token may read (the client's queryLedgers), remembered. */
export async function queryLedgers(session: Session, fromId: number, limit: number) {
  const page = await session.client.queryLedgers(fromId, limit);
  for (const ledger of page.ledgers) ledgerCache.set(ledger.id, Promise.resolve(ledger));
  return page;
}

// ------------------------------------------------------------------------------------------
// Metrics: GET /v1/metrics (the Prometheus text of the --metrics listener, for any token).

/** One scrape: each series ("name{labels}") and its value, and when it was taken. */
export interface Scrape {
  atMs: number;
  series: Map<string, number>;
}

export async function scrape(session: Session): Promise<Scrape> {
  const response = await fetch("/v1/metrics", {
    headers: { Authorization: `Bearer ${session.token}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) {
    const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    throw new LedgerError(response.status, String(answer.error ?? "http"), String(answer.message ?? response.statusText));
  }
  return { atMs: Date.now(), series: parseMetrics(await response.text()) };
}

/** Prometheus' text format: "name{labels} value" lines; comments skipped. */
export function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    if (space <= 0) continue;
    series.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return series;
}

/** The sum of every series of metric `name` whose labels include `labels` (e.g. 'operation="x"'). */
export function sum(scrape: Scrape, name: string, labels = ""): number {
  let total = 0;
  for (const [key, value] of scrape.series) {
    const brace = key.indexOf("{");
    const metric = brace < 0 ? key : key.slice(0, brace);
    if (metric === name && (labels === "" || key.includes(labels))) total += value;
  }
  return total;
}

/** A metric's label values (e.g. every operation of ledger_events_total). */
export function labelValues(scrape: Scrape, name: string, label: string): string[] {
  const values = new Set<string>();
  const pattern = new RegExp(`^${name}\\{.*\\b${label}="([^"]*)"`);
  for (const key of scrape.series.keys()) {
    const match = pattern.exec(key);
    if (match?.[1] !== undefined) values.add(match[1]);
  }
  return [...values].sort();
}

/**
 * The q-quantile of a histogram's observations between two scrapes, as Prometheus'
 * histogram_quantile does it (linear within a bucket); NaN without observations.
 */
export function quantileBetween(before: Scrape, after: Scrape, name: string, q: number): number {
  const buckets: Array<{ le: number; count: number }> = [];
  const pattern = new RegExp(`^${name}_bucket\\{.*le="([^"]+)"`);
  const bounds = new Map<number, number>();
  for (const [key, value] of after.series) {
    const match = pattern.exec(key);
    if (match?.[1] === undefined) continue;
    const le = match[1] === "+Inf" ? Infinity : Number(match[1]);
    const delta = value - (before.series.get(key) ?? 0);
    bounds.set(le, (bounds.get(le) ?? 0) + delta);  // summed over other labels
  }
  for (const [le, count] of bounds) buckets.push({ le, count });
  buckets.sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return lower;
      const inBucket = bucket.count - below;
      return inBucket <= 0 ? bucket.le : lower + ((bucket.le - lower) * (rank - below)) / inBucket;
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return lower;
}
