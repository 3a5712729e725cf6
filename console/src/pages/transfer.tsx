// A transfer: its fields, what became of it (a hold posted, voided or expired; reversals), or,
// for an id whose first attempt failed, the code it failed with.
import { type Session, type Transfer, type TransferStatus, TransferFlags, ledgerInfo } from "../api.js";
import { flagNames, formatAmount, formatTime, parseId } from "../format.js";
import { useState } from "preact/hooks";
import { Fields, RecordLink, Show, href, useLoad } from "../ui.js";
import { transferKind } from "./account.js";
import { HoldActions } from "./hold_actions.js";

export function TransferPage(props: { session: Session; id: string }) {
  const { session } = props;
  const [booked, setBooked] = useState<bigint | null>(null);  // by the hold actions: read again
  const loaded = useLoad(async () => {
    const id = parseId(props.id);
    const [found, statuses] = await Promise.all([session.client.lookupTransfers([id]), session.client.getTransferStatuses([id])]);
    const transfer = found.transfers[0] ?? found.failures[0]?.transfer;
    const ledger = transfer ? await ledgerInfo(session, transfer.ledger) : undefined;
    return { transfer, failure: found.failures[0]?.status, status: statuses[0], scale: ledger?.scale ?? 0, asset: ledger?.assetCode ?? "" };
  }, [session, props.id, booked]);
  return (
    <section>
      <h1>Transfer {props.id}</h1>
      {booked !== null && (
        <p class="notice" data-test="booked">
          Booked: <a href={href(`transfer/${booked}`)}>transfer {booked.toString()}</a>
        </p>
      )}
      <Show loaded={loaded}>
        {({ transfer, failure, status, scale, asset }) => {
          if (transfer === undefined) return <p class="error" data-test="not-found">No transfer {props.id}, and no failed attempt recorded for it.</p>;
          return (
            <>
              {failure && (
                <p class="error" data-test="failure">
                  Not booked: its first attempt failed with <code>{failure}</code>, and a retry of this id answers idAlreadyFailed.
                </p>
              )}
              <div class="columns">
                <TransferFields transfer={transfer} scale={scale} asset={asset} />
                <div>
                  {status && !failure && <StatusFields transfer={transfer} status={status} scale={scale} />}
                  {status?.pendingStatus === "pending" && (
                    <HoldActions session={session} hold={transfer} scale={scale} asset={asset} onBooked={setBooked} />
                  )}
                </div>
              </div>
              {status && status.reversals.length > 0 && (
                <>
                  <h2>Reversals</h2>
                  <ul data-test="reversals">
                    {status.reversals.map((reversal) => (
                      <li key={reversal.toString()}>
                        <RecordLink kind="transfer" id={reversal} />
                      </li>
                    ))}
                  </ul>
                  {status.reversalCount > status.reversals.length && (
                    <p class="muted">The oldest {status.reversals.length} of {status.reversalCount}; the rest are in the accounts' histories.</p>
                  )}
                </>
              )}
            </>
          );
        }}
      </Show>
    </section>
  );
}

function link(path: "account" | "transfer", id: bigint) {
  return id === 0n ? "" : <RecordLink kind={path} id={id} />;
}

function TransferFields(props: { transfer: Transfer; scale: number; asset: string }) {
  const { transfer } = props;
  return (
    <Fields
      test="transfer"
      rows={[
        ["Amount", `${formatAmount(transfer.amount, props.scale)} ${props.asset}`],
        ["Debit account", link("account", transfer.debitAccountId)],
        ["Credit account", link("account", transfer.creditAccountId)],
        ["Kind", transferKind(transfer)],
        ["Flags", flagNames(transfer.flags, TransferFlags).join(", ") || "none"],
        ["Ledger", String(transfer.ledger)],
        ["Code", String(transfer.code)],
        ["Pending id", link("transfer", transfer.pendingId)],
        ["Reverses", link("transfer", transfer.reversesId)],
        ["Timeout", transfer.timeoutS === 0 ? "" : `${transfer.timeoutS} s`],
        ["User data 128", transfer.userData128.toString()],
        ["User data 64", transfer.userData64.toString()],
        ["User data 32", String(transfer.userData32)],
        ["Value time", formatTime(transfer.valueTimeNs)],
        ["Booked", formatTime(transfer.timestampNs)],
      ]}
    />
  );
}

const PENDING_WORDS: Record<TransferStatus["pendingStatus"], string> = {
  none: "not a reservation",
  pending: "held: pending",
  posted: "posted",
  voided: "voided",
  expired: "expired",
};

function StatusFields(props: { transfer: Transfer; status: TransferStatus; scale: number }) {
  const { status, scale } = props;
  const amount = (value: bigint) => formatAmount(value, scale);
  const rows: Array<[string, preact.ComponentChildren]> = [];
  if (status.pendingStatus !== "none") {
    rows.push(["Hold", <span class={`status ${status.pendingStatus}`}>{PENDING_WORDS[status.pendingStatus]}</span>]);
    if (status.expiresAtNs !== 0n) rows.push(["Expires", formatTime(status.expiresAtNs)]);
    if (status.pendingStatus !== "pending") {
      rows.push(["Posted", amount(status.postedAmount)]);
      rows.push(["Released", amount(status.releasedAmount)]);
    }
    if (status.resolvedBy !== 0n) rows.push(["Resolved by", link("transfer", status.resolvedBy)]);
  }
  rows.push(["Reversed", `${amount(status.reversedAmount)} in ${status.reversalCount} reversal${status.reversalCount === 1 ? "" : "s"}`]);
  return <Fields test="status" rows={rows} />;
}
