// The console's only writing actions: post or void a pending hold. They need a token that may
// write (the buttons are not offered to a read-only one), and book nothing until the user
// confirms the exact transfer shown. The new transfer's id is chosen when the form opens, so a
// second click (or a retry after a lost answer) books nothing twice: it answers "exists".
import { useState } from "preact/hooks";
import { type Session, type Transfer, TransferFlags, errorText } from "../api.js";
import { formatAmount, newId, parseAmount } from "../format.js";
import { ErrorBox } from "../ui.js";

type Action = "post" | "void";

export function HoldActions(props: { session: Session; hold: Transfer; scale: number; asset: string; onBooked: (id: bigint) => void }) {
  const [action, setAction] = useState<Action | null>(null);
  if (!mayWrite(props.session, props.hold.ledger)) {
    return <p class="muted" data-test="read-only">A token that may write can post or void this hold here.</p>;
  }
  if (action === null) {
    return (
      <p class="actions">
        <button type="button" onClick={() => setAction("post")} data-test="post-hold">
          Post…
        </button>{" "}
        <button type="button" onClick={() => setAction("void")} data-test="void-hold">
          Void…
        </button>
      </p>
    );
  }
  return <Confirm {...props} action={action} onCancel={() => setAction(null)} />;
}

function mayWrite(session: Session, ledger: number): boolean {
  const { role, ledgers } = session.info;
  return role !== "read" && (ledgers.length === 0 || ledgers.includes(ledger));
}

function Confirm(props: {
  session: Session;
  hold: Transfer;
  scale: number;
  asset: string;
  action: Action;
  onCancel: () => void;
  onBooked: (id: bigint) => void;
}) {
  const { hold, scale, asset, action } = props;
  const [id] = useState(newId);
  const [amountText, setAmountText] = useState(formatAmount(hold.amount, scale).replace(/,/g, ""));
  const [outcome, setOutcome] = useState<{ error?: string; status?: string }>({});
  const [busy, setBusy] = useState(false);
  let amount: bigint | null = hold.amount;
  let amountError: string | null = null;
  if (action === "post") {
    try {
      amount = parseAmount(amountText, scale);
      if (amount === 0n || amount > hold.amount) amountError = `from 0 to the hold's ${formatAmount(hold.amount, scale)}`;
    } catch (failure) {
      amountError = (failure as Error).message;
    }
    if (amountError !== null) amount = null;
  }
  const transfer = {
    id,
    pendingId: hold.id,
    debitAccountId: hold.debitAccountId,
    creditAccountId: hold.creditAccountId,
    amount: amount ?? 0n,
    ledger: hold.ledger,
    code: hold.code,
    flags: action === "post" ? TransferFlags.postPending : TransferFlags.voidPending,
  };
  const book = async () => {
    setBusy(true);
    try {
      const [result] = await props.session.client.createTransfers([transfer]);
      if (result!.status === "ok" || result!.status === "exists") props.onBooked(id);
      else setOutcome({ status: result!.status });
    } catch (failure) {
      setOutcome({ error: errorText(failure) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="confirm" data-test="confirm">
      <h2>{action === "post" ? "Post this hold" : "Void this hold"}</h2>
      {action === "post" && (
        <label>
          Amount to post ({asset})
          <input name="amount" value={amountText} onInput={(e) => setAmountText((e.target as HTMLInputElement).value)} />
        </label>
      )}
      {amountError && <ErrorBox message={amountError} />}
      <p data-test="confirm-text">
        This books transfer <code>{id.toString()}</code>:{" "}
        {action === "post"
          ? `a post of ${amount === null ? "?" : formatAmount(amount, scale)} ${asset} from hold ${hold.id}, moving it from account ${hold.debitAccountId} to account ${hold.creditAccountId}; the rest of the hold (${amount === null ? "?" : formatAmount(hold.amount - amount, scale)} ${asset}) goes back.`
          : `a void of hold ${hold.id}: all ${formatAmount(hold.amount, scale)} ${asset} go back to account ${hold.debitAccountId}.`}
      </p>
      <p>
        <button type="button" class="primary" disabled={busy || amount === null || outcome.status !== undefined} onClick={book} data-test="book">
          Book it
        </button>{" "}
        <button type="button" onClick={props.onCancel} disabled={busy}>
          {outcome.status ? "Close" : "Cancel"}
        </button>
      </p>
      {outcome.error && <ErrorBox message={outcome.error} />}
      {outcome.status && <ErrorBox message={`Not booked: ${outcome.status}.`} />}
    </div>
  );
}
