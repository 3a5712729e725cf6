// The live change feed (GET /v1/changes/stream through the client's feed iterator, which
// reconnects and resumes): the newest changes first, as they commit.
import { useEffect, useState } from "preact/hooks";
import { type Change, type Session, errorText, ledgerInfo } from "../api.js";
import { formatAmount, formatCount, formatTime } from "../format.js";
import { ErrorBox, RecordLink, type Route } from "../ui.js";

const KIND_WORDS: Record<Change["kind"], string> = {
  singlePhase: "posting",
  pending: "hold",
  posted: "hold posted",
  voided: "hold voided",
  expired: "hold expired",
};
const ROWS_KEPT = 200;
const BACKLOG = 50n;  // changes shown from before the page opened

export function FeedPage(props: { session: Session; route: Route }) {
  const { session } = props;
  const [changes, setChanges] = useState<Change[]>([]);
  const [received, setReceived] = useState(0);
  const [scales, setScales] = useState(new Map<number, number>());
  const [error, setError] = useState<string | null>(null);
  const [paused, setPaused] = useState(false);
  const fromText = props.route.query.get("from");

  useEffect(() => {
    if (paused) return;
    const controller = new AbortController();
    let pending: Change[] = [];
    let flushing = 0;
    // Changes arrive thousands a second under load: the table is redrawn at most 10 times a second.
    const flush = () => {
      flushing = 0;
      const batch = pending;
      pending = [];
      setReceived((count) => count + batch.length);
      setChanges((kept) => [...batch.reverse(), ...kept].slice(0, ROWS_KEPT));
    };
    const follow = async () => {
      const from = fromText !== null ? BigInt(fromText) : await startOfFeed(session);
      for await (const change of session.client.changes({ from, signal: controller.signal })) {
        pending.push(change);
        if (pending.length > ROWS_KEPT) pending.shift();
        if (!scales.has(change.transfer.ledger)) void learnScale(change.transfer.ledger);
        if (flushing === 0) flushing = window.setTimeout(flush, 100);
      }
    };
    const learnScale = async (ledger: number) => {
      const info = await ledgerInfo(session, ledger);
      if (info) setScales((known) => new Map(known).set(ledger, info.scale));
    };
    follow().catch((failure: unknown) => {
      if (!controller.signal.aborted) setError(errorText(failure));
    });
    return () => {
      controller.abort();
      clearTimeout(flushing);
    };
  }, [session, paused, fromText]);

  return (
    <section>
      <h1>Change feed</h1>
      <p class="muted">
        Every balance change in log order, as it commits, newest first (the last {ROWS_KEPT} shown).{" "}
        <span data-test="received">{formatCount(received)}</span> received.{" "}
        <button type="button" onClick={() => setPaused(!paused)} data-test="pause">
          {paused ? "Resume" : "Pause"}
        </button>
      </p>
      {error && <ErrorBox message={error} />}
      <table data-test="feed">
        <thead>
          <tr>
            <th class="number">Sequence</th>
            <th>Booked</th>
            <th>Kind</th>
            <th>Transfer</th>
            <th>Debit</th>
            <th>Credit</th>
            <th class="number">Amount</th>
          </tr>
        </thead>
        <tbody>
          {changes.map((change) => (
            <tr key={change.sequence.toString()} data-sequence={change.sequence.toString()}>
              <td class="number">{change.sequence.toString()}</td>
              <td>{formatTime(change.timestampNs)}</td>
              <td>{KIND_WORDS[change.kind]}</td>
              <td>
                <RecordLink kind="transfer" id={change.transfer.id} />
              </td>
              <td>
                <RecordLink kind="account" id={change.debitAccountId} />
              </td>
              <td>
                <RecordLink kind="account" id={change.creditAccountId} />
              </td>
              <td class="number" data-field="amount">
                {formatAmount(change.transfer.amount, scales.get(change.transfer.ledger) ?? 0)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** The feed's head less a backlog, but not before the oldest change retained. */
async function startOfFeed(session: Session): Promise<bigint> {
  const next = (await session.client.info()).changeSequenceNext;
  const { oldestSequence } = await session.client.changesPage(0n, 1).catch(() => ({ oldestSequence: 0n }));
  const start = next > BACKLOG ? next - BACKLOG : 0n;
  return start > oldestSequence ? start : oldestSequence;
}
