// How the console shows the ledger's numbers: amounts in the ledger's scale (integers of minor
// units, never floating point), ids in decimal, times from nanoseconds.

/** An amount of minor units in its ledger's scale: 123456n at scale 2 is "1,234.56". */
export function formatAmount(amount: bigint, scale: number): string {
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = scale > 0 ? `.${digits.slice(digits.length - scale)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

/** A wide sum (carries * 2^128 + low) as one bigint. */
export function wideSum(sum: { low: bigint; carries: bigint }): bigint {
  return (sum.carries << 128n) + sum.low;
}

/** A booking or value time in UTC, to the microsecond ("" for 0). */
export function formatTime(ns: bigint): string {
  if (ns === 0n) return "";
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();  // 2026-12-06T13:05:01.123Z
  const micros = ((ns / 1000n) % 1000n).toString().padStart(3, "0");
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${micros}`;
}

/** Nanoseconds since the epoch from a date-time input's value ("" -> 0). */
export function parseTimeInput(text: string): bigint {
  if (text.trim() === "") return 0n;
  const ms = Date.parse(text.endsWith("Z") ? text : `${text}Z`);
  if (Number.isNaN(ms)) throw new Error(`not a time: ${text}`);
  return BigInt(ms) * 1_000_000n;
}

/** An id as the user typed it: decimal, or hex with 0x; refuses anything else. */
export function parseId(text: string): bigint {
  const trimmed = text.trim();
  if (!/^(0x[0-9a-fA-F]{1,32}|[0-9]{1,39})$/.test(trimmed)) {
    throw new Error(`not an id: "${text}" (decimal, or hex with 0x)`);
  }
  const id = BigInt(trimmed);
  if (id >= 1n << 128n) throw new Error(`not an id: ${text} is past 2^128-1`);
  return id;
}

/** A small unsigned integer field (code, ledger, user data 32) from a text box; "" is 0. */
export function parseSmall(text: string, name: string, max: number): number {
  const trimmed = text.trim();
  if (trimmed === "") return 0;
  if (!/^[0-9]+$/.test(trimmed) || Number(trimmed) > max) {
    throw new Error(`${name} must be a whole number from 0 to ${max}`);
  }
  return Number(trimmed);
}

/** The names of the bits set in `flags`, in bit order. */
export function flagNames(flags: number, table: Record<string, number>): string[] {
  return Object.entries(table)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([name]) => name);
}

/** A count with thousands separators. */
export function formatCount(value: bigint | number): string {
  return value.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A 128-bit hash as 32 hex digits. */
export function formatHash(hash: bigint): string {
  return hash.toString(16).padStart(32, "0");
}

/** A duration in seconds, to three figures with a unit. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "–";
  if (seconds >= 1) return `${seconds.toPrecision(3)} s`;
  if (seconds >= 1e-3) return `${(seconds * 1e3).toPrecision(3)} ms`;
  return `${(seconds * 1e6).toPrecision(3)} µs`;
}

/** An amount typed in the ledger's units ("1,234.5" at scale 2 is 123450n); refuses more decimals than the scale. */
export function parseAmount(text: string, scale: number): bigint {
  const trimmed = text.trim().replace(/,/g, "");
  const match = /^([0-9]+)(?:\.([0-9]*))?$/.exec(trimmed);
  if (match === null) throw new Error(`not an amount: "${text}"`);
  const fraction = match[2] ?? "";
  if (fraction.length > scale) throw new Error(`at most ${scale} decimals in this ledger`);
  const amount = BigInt(match[1]! + fraction.padEnd(scale, "0"));
  if (amount >= 1n << 128n) throw new Error("past the largest amount (2^128-1 minor units)");
  return amount;
}

/** A new transfer id: 128 random bits (never 0 or 2^128-1, which ids may not be). */
export function newId(): bigint {
  const words = crypto.getRandomValues(new BigUint64Array(2));
  const id = (words[0]! << 64n) | words[1]!;
  return id === 0n || id === (1n << 128n) - 1n ? newId() : id;
}
