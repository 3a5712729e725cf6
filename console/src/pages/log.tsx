// The log's integrity: the server's verification of its log on disk (verifyLog: every
// checksum, chain link, op and timestamp, as `ledger-wal verify` checks them), and the keyed
// checkpoints it signed, which an auditor holds the log against.
import { useEffect, useState } from "preact/hooks";
import { type Checkpoint, type LogVerification, type LogVerificationState, type Session, errorText } from "../api.js";
import { formatCount, formatHash, formatTime } from "../format.js";
import { ErrorBox, Fields, Show, useLoad } from "../ui.js";

const POLL_MS = 1000;
const CHECKPOINTS_SHOWN = 20;  // the newest; the server retains 64, its checkpoint file all
const WORDS: Record<LogVerificationState, string> = {
  never: "not verified since the server started",
  running: "verifying…",
  intact: "intact",
  corrupt: "CORRUPT",
  failed: "could not be verified",
};

export function LogPage(props: { session: Session }) {
  const { session } = props;
  const [verification, setVerification] = useState<LogVerification | null>(null);
  const [error, setError] = useState<string | null>(null);

  const ask = async (start: boolean) => {
    try {
      setVerification(await session.client.verifyLog(start));
      setError(null);
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  useEffect(() => {
    void ask(false);
  }, [session]);
  useEffect(() => {
    if (verification?.state !== "running") return;
    const timer = window.setTimeout(() => void ask(false), POLL_MS);
    return () => clearTimeout(timer);
  }, [verification]);

  return (
    <section>
      <h1>Log</h1>
      <h2>Verification</h2>
      {error && <ErrorBox message={error} />}
      {verification && <VerificationFields verification={verification} />}
      <p>
        <button type="button" disabled={verification?.state === "running"} onClick={() => void ask(true)} data-test="verify">
          Verify the log now
        </button>{" "}
        <span class="muted">Reads the whole log on disk in the background; the server goes on serving.</span>
      </p>
      <Checkpoints session={session} />
    </section>
  );
}

function VerificationFields(props: { verification: LogVerification }) {
  const v = props.verification;
  const rows: Array<[string, preact.ComponentChildren]> = [
    ["Result", <span class={`status ${v.state}`} data-test="verification-state">{WORDS[v.state]}</span>],
  ];
  if (v.state !== "never") {
    rows.push(["Started", formatTime(v.startedAtNs)]);
    if (v.finishedAtNs !== 0n) rows.push(["Finished", formatTime(v.finishedAtNs)]);
    rows.push(["Ops", `${formatCount(v.firstOp)} to ${formatCount(v.checkedOp)} of ${formatCount(v.throughOp)}`]);
    rows.push(["Entries", formatCount(v.entries)]);
    rows.push(["Bytes read", formatCount(v.bytesRead)]);
    rows.push(["Chain head", <code>{formatHash(v.chainHead)}</code>]);
  }
  if (v.message !== "") rows.push(["Why", <span class="error">{v.message}</span>]);
  return <Fields test="verification" rows={rows} />;
}

function Checkpoints(props: { session: Session }) {
  const loaded = useLoad(() => props.session.client.checkpoints(0n), [props.session]);
  return (
    <>
      <h2>Keyed checkpoints</h2>
      <Show loaded={loaded}>
        {(checkpoints: Checkpoint[]) =>
          checkpoints.length === 0 ? (
            <p class="muted" data-test="no-checkpoints">
              None: the server signs checkpoints only with a checkpoint key (docs/operations.md).
            </p>
          ) : (
            <>
            <p class="muted">
              The newest {Math.min(CHECKPOINTS_SHOWN, checkpoints.length)} of the {checkpoints.length} the server retains; its
              checkpoint file holds them all, for <code>ledger-wal verify --key</code>.
            </p>
            <table data-test="checkpoints">
              <thead>
                <tr>
                  <th class="number">Op</th>
                  <th>Booked</th>
                  <th>Chain hash</th>
                  <th>Signed line</th>
                </tr>
              </thead>
              <tbody>
                {[...checkpoints].reverse().slice(0, CHECKPOINTS_SHOWN).map((checkpoint) => (
                  <tr key={checkpoint.op.toString()}>
                    <td class="number">{formatCount(checkpoint.op)}</td>
                    <td>{formatTime(checkpoint.timestampNs)}</td>
                    <td>
                      <code>{formatHash(checkpoint.chainHash)}</code>
                    </td>
                    <td class="wrap">
                      <code class="line">{checkpoint.line}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            </>
          )
        }
      </Show>
    </>
  );
}
