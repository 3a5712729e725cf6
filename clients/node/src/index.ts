// A client of the ledger's HTTP/JSON API (docs/http-api.md) for Node 20 and later.
//
// - Records are typed (generated from docs/openapi.json); ids, amounts and 64-bit integers are
//   bigint, converted from and to the API's decimal strings without loss.
// - Result codes are names ("ok", "exceedsCredits"): `CreateTransferStatus` lists them all.
// - submitTransfer/submitAccount batch automatically: events submitted while the requests in
//   flight (at most `concurrency`) are busy go together in the next, up to `batchMax` each.
// - Every call is retried on a lost connection, 429, 500 and 503 until `retryTimeoutMs`:
//   creates are idempotent (a retried event already booked answers "exists"), reads are reads.
// - The change feed is an async iterator that reconnects and resumes after the last change.
import {
  type Account,
  type AccountBalance,
  type AccountFilter,
  type AccountResult,
  type Change,
  type Checkpoint,
  type FailedTransfer,
  type FieldKind,
  type LedgerInfo,
  type LedgerResult,
  type LogVerification,
  type Method,
  type QueryFilter,
  type ServerInfo,
  type Transfer,
  type TransferResult,
  type TransferStatus,
  type TrialBalance,
  records,
} from "./generated.js";

export * from "./generated.js";

/** Transfer flags (Transfer.flags), as in net/ledger.capnp. */
export const TransferFlags = {
  linked: 1,
  pending: 2,
  postPending: 4,
  voidPending: 8,
  balancingDebit: 16,
  balancingCredit: 32,
  closingDebit: 64,
  closingCredit: 128,
  imported: 256,
} as const;

/** Account flags (Account.flags). */
export const AccountFlags = {
  linked: 1,
  debitsMustNotExceedCredits: 2,
  creditsMustNotExceedDebits: 4,
  history: 8,
  closed: 16,
  imported: 32,
} as const;

/** 2^128-1: the largest amount; a post of it posts the whole reservation. */
export const AMOUNT_MAX = (1n << 128n) - 1n;

export type NewLedger = Pick<LedgerInfo, "id" | "assetCode"> & Partial<LedgerInfo>;
export type NewAccount = Pick<Account, "id" | "ledger" | "code"> & Partial<Account>;
export type NewTransfer = Pick<
  Transfer,
  "id" | "debitAccountId" | "creditAccountId" | "amount" | "ledger" | "code"
> &
  Partial<Transfer>;

/** A call the server refused (or that could not be made in time): `code` is the API's error. */
export class LedgerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "LedgerError";
  }
}

export interface ClientOptions {
  /** The API's base, e.g. "http://127.0.0.1:7702". */
  url: string;
  /** A token of the server's (the tokens file's, or the admin token file's). */
  token: string;
  /** Events per auto-batched request (default 8190, the server's maximum). */
  batchMax?: number;
  /** Auto-batched requests in flight at once (default 4). */
  concurrency?: number;
  /** How long a call keeps retrying (default 30 000 ms). */
  retryTimeoutMs?: number;
  /** One request's timeout (default 60 000 ms). */
  requestTimeoutMs?: number;
  /** Reads from a replica group member that does not lead (docs/replication.md). */
  staleReads?: boolean;
}

export type FeedItem = { change: Change } | { checkpoint: Checkpoint };

export interface FeedOptions {
  /** The first change sequence wanted (default 0n). */
  from?: bigint;
  /** Keyed checkpoints too, each after the changes it covers. */
  checkpoints?: boolean;
  signal?: AbortSignal;
}

export interface ClientStats {
  requests: number;
  retries: number;
  batchedEvents: number;
  batchedRequests: number;
}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function backoffMs(attempt: number): number {
  return Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random() / 2);
}

// ------------------------------------------------------------------------------------------
// JSON by the schema's table

function toJson(value: unknown, kind: FieldKind, where: string): unknown {
  if (kind === "big") {
    if (typeof value === "bigint") return value.toString();
    if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
    if (typeof value === "string" && /^[0-9]+$/.test(value)) return value;
    throw new TypeError(`${where}: expected a bigint, got ${typeof value}`);
  }
  if (kind === "number") {
    if (typeof value === "number" && Number.isInteger(value)) return value;
    if (typeof value === "bigint") return Number(value);
    throw new TypeError(`${where}: expected an integer, got ${typeof value}`);
  }
  if (kind === "boolean" || kind === "text") return value;
  if ("list" in kind) {
    if (!Array.isArray(value)) throw new TypeError(`${where}: expected an array`);
    return value.map((item, i) => toJson(item, kind.list, `${where}[${i}]`));
  }
  const fields = records[kind.struct];
  if (fields === undefined) throw new TypeError(`${where}: no record ${kind.struct}`);
  const out: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value as Record<string, unknown>)) {
    if (item === undefined) continue;
    const field = fields[name];
    if (field === undefined) throw new TypeError(`${where}: ${kind.struct} has no field ${name}`);
    out[name] = toJson(item, field, `${where}.${name}`);
  }
  return out;
}

function fromJson(value: unknown, kind: FieldKind): unknown {
  if (kind === "big") return BigInt(value as string);
  if (typeof kind === "string") return value;
  if ("list" in kind) return (value as unknown[]).map((item) => fromJson(item, kind.list));
  const fields = records[kind.struct] ?? {};
  const out: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value as Record<string, unknown>)) {
    const field = fields[name];
    out[name] = field === undefined ? item : fromJson(item, field);  // a newer server's: as is
  }
  return out;
}

const capitalized = (name: string) => name[0]!.toUpperCase() + name.slice(1);

// ------------------------------------------------------------------------------------------
// Automatic batching

interface Pending<Event, Result> {
  events: Event[]; // submitted together: never split
  resolve: (results: Result[]) => void;
  reject: (error: unknown) => void;
}

class Batcher<Event, Result> {
  private queue: Pending<Event, Result>[] = [];
  private inflight = 0;
  private scheduled = false;

  constructor(
    private readonly send: (events: Event[]) => Promise<Result[]>,
    private readonly batchMax: number,
    private readonly concurrency: number,
    private readonly stats: ClientStats,
  ) {}

  submit(events: Event[]): Promise<Result[]> {
    if (events.length > this.batchMax) {
      return Promise.reject(new RangeError(`a group of ${events.length} events exceeds batchMax`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inflight >= this.concurrency || this.queue.length === 0) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      while (this.queue.length > 0 && this.inflight < this.concurrency) this.flushOne();
    });
  }

  private flushOne(): void {
    let count = 0;
    let size = 0;
    while (count < this.queue.length && size + this.queue[count]!.events.length <= this.batchMax) {
      size += this.queue[count]!.events.length;
      count += 1;
    }
    const taken = this.queue.splice(0, count);  // once per request: shift() each is quadratic
    const events: Event[] = new Array(size);
    let at = 0;
    for (const pending of taken) for (const event of pending.events) events[at++] = event;
    this.inflight += 1;
    this.stats.batchedRequests += 1;
    this.stats.batchedEvents += events.length;
    this.send(events)
      .then(
        (results) => {
          let at = 0;
          for (const pending of taken) {
            pending.resolve(results.slice(at, at + pending.events.length));
            at += pending.events.length;
          }
        },
        (error) => {
          for (const pending of taken) pending.reject(error);
        },
      )
      .finally(() => {
        this.inflight -= 1;
        this.schedule();
      });
  }
}

// ------------------------------------------------------------------------------------------

export class LedgerClient {
  readonly stats: ClientStats = { requests: 0, retries: 0, batchedEvents: 0, batchedRequests: 0 };
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly retryTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly transfers: Batcher<NewTransfer, TransferResult>;
  private readonly accounts: Batcher<NewAccount, AccountResult>;

  constructor(options: ClientOptions) {
    this.base = options.url.replace(/\/+$/, "");
    this.headers = {
      Authorization: `Bearer ${options.token.trim()}`,
      "Content-Type": "application/json",
      ...(options.staleReads ? { "Ledger-Stale-Reads": "true" } : {}),
    };
    this.retryTimeoutMs = options.retryTimeoutMs ?? 30_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    const batchMax = options.batchMax ?? 8190;
    const concurrency = options.concurrency ?? 4;
    this.transfers = new Batcher(
      (events) => this.createTransfers(events),
      batchMax,
      concurrency,
      this.stats,
    );
    this.accounts = new Batcher(
      (events) => this.createAccounts(events),
      batchMax,
      concurrency,
      this.stats,
    );
  }

  /** One method of the API, its body and answer as the schema has them (bigints converted). */
  async call<T>(method: Method, body: object): Promise<T> {
    const name = capitalized(method);
    const text = JSON.stringify(toJson(body, { struct: `${name}Request` }, method));
    const deadline = Date.now() + this.retryTimeoutMs;
    for (let attempt = 0; ; attempt += 1) {
      let failure: unknown;
      try {
        this.stats.requests += 1;
        const response = await fetch(`${this.base}/v1/${method}`, {
          method: "POST",
          headers: this.headers,
          body: text,
          signal: AbortSignal.timeout(this.requestTimeoutMs),
        });
        const answer = (await response.json()) as Record<string, unknown>;
        if (response.ok) return fromJson(answer, { struct: `${name}Response` }) as T;
        const error = new LedgerError(
          response.status,
          String(answer.error),
          String(answer.message),
        );
        if (!RETRYABLE.has(response.status)) throw error;
        failure = error;
      } catch (error) {
        if (error instanceof LedgerError && !RETRYABLE.has(error.status)) throw error;
        failure = error;
      }
      if (Date.now() >= deadline) {
        if (failure instanceof LedgerError) throw failure;
        throw new LedgerError(0, "unavailable", `${method}: ${String(failure)}`);
      }
      this.stats.retries += 1;
      await sleep(backoffMs(attempt));
    }
  }

  // Creates: one request each, in order; a result per event.
  async createLedgers(ledgers: NewLedger[]): Promise<LedgerResult[]> {
    return (await this.call<{ results: LedgerResult[] }>("createLedgers", { ledgers })).results;
  }
  async createAccounts(accounts: NewAccount[]): Promise<AccountResult[]> {
    return (await this.call<{ results: AccountResult[] }>("createAccounts", { accounts })).results;
  }
  async createTransfers(transfers: NewTransfer[]): Promise<TransferResult[]> {
    return (await this.call<{ results: TransferResult[] }>("createTransfers", { transfers }))
      .results;
  }

  /** Books one transfer in the next automatic batch. */
  async submitTransfer(transfer: NewTransfer): Promise<TransferResult> {
    return (await this.transfers.submit([transfer]))[0]!;
  }
  /** Books transfers together in one automatic batch (a linked chain stays whole). */
  submitTransfers(transfers: NewTransfer[]): Promise<TransferResult[]> {
    return this.transfers.submit(transfers);
  }
  async submitAccount(account: NewAccount): Promise<AccountResult> {
    return (await this.accounts.submit([account]))[0]!;
  }

  // Reads.
  async lookupLedgers(ids: number[]): Promise<LedgerInfo[]> {
    return (await this.call<{ ledgers: LedgerInfo[] }>("lookupLedgers", { ids })).ledgers;
  }
  async lookupAccounts(ids: bigint[]): Promise<Account[]> {
    return (await this.call<{ accounts: Account[] }>("lookupAccounts", { ids })).accounts;
  }
  lookupTransfers(ids: bigint[]): Promise<{ transfers: Transfer[]; failures: FailedTransfer[] }> {
    return this.call("lookupTransfers", { ids });
  }
  getAccountTransfers(
    filter: Partial<AccountFilter> & Pick<AccountFilter, "accountId">,
  ): Promise<{ transfers: Transfer[]; nextTimestampNs: bigint }> {
    return this.call("getAccountTransfers", { filter });
  }
  getAccountBalances(
    filter: Partial<AccountFilter> & Pick<AccountFilter, "accountId">,
  ): Promise<{ balances: AccountBalance[]; nextTimestampNs: bigint }> {
    return this.call("getAccountBalances", { filter });
  }
  async trialBalance(ledger: number): Promise<TrialBalance> {
    return (await this.call<{ trialBalance: TrialBalance }>("trialBalance", { ledger }))
      .trialBalance;
  }
  changesPage(
    fromSequence: bigint,
    limit = 0,
  ): Promise<{ changes: Change[]; nextSequence: bigint; oldestSequence: bigint }> {
    return this.call("changes", { fromSequence, limit });
  }
  async info(): Promise<ServerInfo> {
    return (await this.call<{ info: ServerInfo }>("info", {})).info;
  }
  async getTransferStatuses(ids: bigint[]): Promise<TransferStatus[]> {
    return (await this.call<{ statuses: TransferStatus[] }>("getTransferStatuses", { ids }))
      .statuses;
  }
  getPostedAtValueTime(
    accountId: bigint,
    valueTimeNs: bigint,
  ): Promise<{ debitsPosted: bigint; creditsPosted: bigint; transferCount: bigint }> {
    return this.call("getPostedAtValueTime", { accountId, valueTimeNs });
  }
  queryAccounts(
    filter: Partial<QueryFilter>,
  ): Promise<{ accounts: Account[]; nextTimestampNs: bigint }> {
    return this.call("queryAccounts", { filter });
  }
  queryTransfers(
    filter: Partial<QueryFilter>,
  ): Promise<{ transfers: Transfer[]; nextTimestampNs: bigint }> {
    return this.call("queryTransfers", { filter });
  }
  /** A page of the ledgers the token may see, in id order from `fromId`; nextId 0: the last. */
  queryLedgers(fromId = 0, limit = 0): Promise<{ ledgers: LedgerInfo[]; nextId: number }> {
    return this.call("queryLedgers", { fromId, limit });
  }
  /** The server's check of its log on disk; `start` begins one unless one is running. */
  async verifyLog(start = false): Promise<LogVerification> {
    return (await this.call<{ verification: LogVerification }>("verifyLog", { start }))
      .verification;
  }
  async checkpoints(fromOp = 0n): Promise<Checkpoint[]> {
    return (await this.call<{ checkpoints: Checkpoint[] }>("checkpoints", { fromOp }))
      .checkpoints;
  }

  /** The change feed's changes from `from` on, as they commit, across reconnects. */
  async *changes(options: FeedOptions = {}): AsyncGenerator<Change> {
    for await (const item of this.feed(options)) if ("change" in item) yield item.change;
  }

  /**
   * The change feed (and, with `checkpoints`, keyed checkpoints) from `from` on. A lost
   * connection or a server that shut down is reconnected, resuming after the last change
   * yielded (none skipped, none twice), for up to retryTimeoutMs of failures in a row. A
   * cursor no longer retained, or a revoked token, throws.
   */
  async *feed(options: FeedOptions = {}): AsyncGenerator<FeedItem> {
    let next = options.from ?? 0n;
    let failingSince: number | undefined;
    for (let attempt = 0; ; attempt += 1) {
      const controller = new AbortController();
      const abort = () => controller.abort();
      options.signal?.addEventListener("abort", abort);
      let reason: string | undefined;
      try {
        const query = `from=${next}${options.checkpoints ? "&checkpoints=true" : ""}`;
        const response = await fetch(`${this.base}/v1/changes/stream?${query}`, {
          headers: this.headers,
          signal: controller.signal,
        });
        if (!response.ok) {
          const answer = (await response.json()) as Record<string, unknown>;
          const error = new LedgerError(response.status, String(answer.error), String(answer.message));
          if (!RETRYABLE.has(response.status)) throw error;
          reason = error.message;
        } else {
          failingSince = undefined;
          attempt = 0;
          for await (const line of lines(response.body!)) {
            const item = JSON.parse(line) as Record<string, unknown>;
            if ("end" in item) {
              reason = String(item.end);
              break;
            }
            if ("change" in item) {
              const change = fromJson(item.change, { struct: "Change" }) as Change;
              next = change.sequence + 1n;
              yield { change };
            } else if ("checkpoint" in item) {
              yield { checkpoint: fromJson(item.checkpoint, { struct: "Checkpoint" }) as Checkpoint };
            }
          }
          if (reason !== undefined && !reason.includes("shutting down")) {
            throw new LedgerError(0, reason.includes("revoked") ? "unauthenticated" : "feed_ended", reason);
          }
        }
      } catch (error) {
        if (error instanceof LedgerError || options.signal?.aborted) throw error;
        reason = String(error);
      } finally {
        options.signal?.removeEventListener("abort", abort);
        controller.abort();
      }
      failingSince ??= Date.now();
      if (Date.now() - failingSince > this.retryTimeoutMs) {
        throw new LedgerError(0, "unavailable", `the change feed: ${reason ?? "ended"}`);
      }
      this.stats.retries += 1;
      await sleep(backoffMs(attempt));
    }
  }
}

/** A response body's lines, without the keep-alives' empty ones. */
async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line.trim() !== "") yield line;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
