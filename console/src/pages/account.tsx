// An account: its balances in the ledger's units, a chart of its posted balance over time, and
// its history with filters and pagination (getAccountTransfers).
import { useState } from "preact/hooks";
import {
  type Account,
  AccountFlags,
  type LedgerInfo,
  type Session,
  type Transfer,
  TransferFlags,
  ledgerInfo,
} from "../api.js";
import { Chart } from "../chart.js";
import { flagNames, formatAmount, formatTime, parseId, parseSmall, parseTimeInput } from "../format.js";
import { ErrorBox, Fields, Pager, RecordLink, type Route, Show, href, useCursorPages, useLoad } from "../ui.js";

const PAGE_SIZE = 25;
const CHART_POINTS = 1000;

export function AccountPage(props: { session: Session; route: Route; id: string }) {
  const { session } = props;
  const loaded = useLoad(async () => {
    const id = parseId(props.id);
    const [account] = await session.client.lookupAccounts([id]);
    if (account === undefined) throw new Error(`no account ${id}`);
    const ledger = await ledgerInfo(session, account.ledger);
    return { account, scale: ledger?.scale ?? 0, ledger };
  }, [session, props.id]);
  return (
    <section>
      <h1>Account {props.id}</h1>
      <Show loaded={loaded}>
        {({ account, scale, ledger }) => (
          <>
            <Summary account={account} scale={scale} ledger={ledger} />
            <BalanceChart session={session} account={account} scale={scale} />
            <History session={session} account={account} scale={scale} route={props.route} />
          </>
        )}
      </Show>
    </section>
  );
}

function Summary(props: { account: Account; scale: number; ledger: LedgerInfo | undefined }) {
  const { account, scale } = props;
  const amount = (value: bigint) => formatAmount(value, scale);
  return (
    <div class="columns">
      <Fields
        test="account"
        rows={[
          ["Ledger", `${account.ledger} ${props.ledger?.assetCode ?? ""}`],
          ["Code", String(account.code)],
          ["Flags", flagNames(account.flags, AccountFlags).join(", ") || "none"],
          ["User data 128", account.userData128.toString()],
          ["User data 64", account.userData64.toString()],
          ["User data 32", String(account.userData32)],
          ["Created", formatTime(account.timestampNs)],
        ]}
      />
      <Fields
        test="balances"
        rows={[
          ["Debits posted", amount(account.debitsPosted)],
          ["Credits posted", amount(account.creditsPosted)],
          ["Debits pending", amount(account.debitsPending)],
          ["Credits pending", amount(account.creditsPending)],
          ["Net posted (cr − dr)", amount(account.creditsPosted - account.debitsPosted)],
        ]}
      />
    </div>
  );
}

/**
 * The posted balance (credits - debits) after each change. Accounts with the history flag have
 * it exactly (getAccountBalances); for the others it is worked back from today's balance through
 * the newest transfers, since a posting is the only change to posted balances.
 */
function BalanceChart(props: { session: Session; account: Account; scale: number }) {
  const { session, account, scale } = props;
  const loaded = useLoad(async () => {
    const points: Array<{ time_ns: bigint; net: bigint }> = [];
    let exact = true;
    if ((account.flags & AccountFlags.history) !== 0) {
      const page = await session.client.getAccountBalances({ accountId: account.id, reversed: true, limit: CHART_POINTS });
      for (const balance of page.balances) {
        points.push({ time_ns: balance.timestampNs, net: balance.creditsPosted - balance.debitsPosted });
      }
      exact = page.nextTimestampNs === 0n;
    } else {
      const page = await session.client.getAccountTransfers({ accountId: account.id, reversed: true, limit: CHART_POINTS });
      let net = account.creditsPosted - account.debitsPosted;
      for (const transfer of page.transfers) {
        points.push({ time_ns: transfer.timestampNs, net });
        net -= postedEffect(transfer, account.id);
      }
      exact = page.nextTimestampNs === 0n;
    }
    points.reverse();
    return { points, exact };
  }, [session, account]);
  return (
    <Show loaded={loaded}>
      {({ points, exact }) => {
        // Plotted as numbers in the ledger's units; the tables show the exact amounts.
        const unit = 10 ** scale;
        return (
          <Chart
            title={`Posted balance over time (credits − debits)${exact ? "" : `, the last ${points.length} changes`}`}
            test="balance-chart"
            unit="balance"
            step
            times_s={points.map((point) => Number(point.time_ns / 1_000_000n) / 1000)}
            series={[{ label: "net posted", color: "#2563eb", values: points.map((point) => Number(point.net) / unit) }]}
          />
        );
      }}
    </Show>
  );
}

/** What a transfer did to the account's posted net (credits - debits). */
function postedEffect(transfer: Transfer, accountId: bigint): bigint {
  if ((transfer.flags & (TransferFlags.pending | TransferFlags.voidPending)) !== 0) return 0n;
  return transfer.creditAccountId === accountId ? transfer.amount : -transfer.amount;
}

interface HistoryFilter {
  code: string;
  debits: boolean;
  credits: boolean;
  from: string;  // date-time inputs, UTC
  to: string;
  newest: boolean;
}

function History(props: { session: Session; account: Account; scale: number; route: Route }) {
  const { session, account, scale, route } = props;
  const filter: HistoryFilter = {
    code: route.query.get("code") ?? "",
    debits: route.query.get("debits") !== "0",
    credits: route.query.get("credits") !== "0",
    from: route.query.get("from") ?? "",
    to: route.query.get("to") ?? "",
    newest: route.query.get("newest") === "1",
  };
  const key = JSON.stringify(filter);
  const pages = useCursorPages(0n, `${account.id}|${key}`);
  const loaded = useLoad(async () => {
    const timestampMinNs = parseTimeInput(filter.from);
    const timestampMaxNs = parseTimeInput(filter.to);
    const page = await session.client.getAccountTransfers({
      accountId: account.id,
      code: parseSmall(filter.code, "code", 65535),
      debits: filter.debits,
      credits: filter.credits,
      reversed: filter.newest,
      timestampMinNs: !filter.newest && pages.cursor !== 0n ? pages.cursor : timestampMinNs,
      timestampMaxNs: filter.newest && pages.cursor !== 0n ? pages.cursor : timestampMaxNs,
      limit: PAGE_SIZE,
    });
    return page;
  }, [session, account.id, key, pages.cursor]);
  return (
    <>
      <h2>History</h2>
      <HistoryForm key={key} accountId={account.id} filter={filter} />
      <Show loaded={loaded}>
        {(page) => (
          <>
            <table data-test="history">
              <thead>
                <tr>
                  <th>Booked</th>
                  <th>Transfer</th>
                  <th>Counterparty</th>
                  <th class="number">Amount</th>
                  <th>Code</th>
                  <th>Kind</th>
                </tr>
              </thead>
              <tbody>
                {page.transfers.map((transfer) => {
                  const credit = transfer.creditAccountId === account.id;
                  const other = credit ? transfer.debitAccountId : transfer.creditAccountId;
                  return (
                    <tr key={transfer.id.toString()} data-transfer={transfer.id.toString()}>
                      <td>{formatTime(transfer.timestampNs)}</td>
                      <td>
                        <RecordLink kind="transfer" id={transfer.id} />
                      </td>
                      <td>
                        {credit ? "from " : "to "}
                        <RecordLink kind="account" id={other} />
                      </td>
                      <td class={`number ${credit ? "credit" : "debit"}`} data-field="amount">
                        {credit ? "+" : "−"}
                        {formatAmount(transfer.amount, scale)}
                      </td>
                      <td>{transfer.code}</td>
                      <td>{transferKind(transfer)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            {page.transfers.length === 0 && <p class="muted" data-test="none">No transfers match.</p>}
            <Pager
              page={pages.page}
              hasNext={page.nextTimestampNs !== 0n}
              onPrevious={pages.previous}
              onNext={() => pages.next(page.nextTimestampNs)}
            />
          </>
        )}
      </Show>
    </>
  );
}

export function transferKind(transfer: Transfer): string {
  const names = flagNames(transfer.flags & ~TransferFlags.linked, TransferFlags);
  if (transfer.reversesId !== 0n) names.push("reversal");
  return names.length === 0 ? "posting" : names.join(", ");
}

function HistoryForm(props: { accountId: bigint; filter: HistoryFilter }) {
  const [values, setValues] = useState(props.filter);
  const [error, setError] = useState<string | null>(null);
  const set = (change: Partial<HistoryFilter>) => setValues({ ...values, ...change });
  const submit = (event: Event) => {
    event.preventDefault();
    try {
      parseSmall(values.code, "code", 65535);
      parseTimeInput(values.from);
      parseTimeInput(values.to);
      setError(null);
      location.hash = href(`account/${props.accountId}`, {
        code: values.code,
        debits: values.debits ? "" : "0",
        credits: values.credits ? "" : "0",
        from: values.from,
        to: values.to,
        newest: values.newest ? "1" : "",
      });
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  const text = (event: Event) => (event.target as HTMLInputElement).value;
  const checked = (event: Event) => (event.target as HTMLInputElement).checked;
  return (
    <form class="search" onSubmit={submit} data-test="history-filter">
      <label>
        Code
        <input name="code" value={values.code} inputMode="numeric" onInput={(e) => set({ code: text(e) })} />
      </label>
      <label>
        Booked from (UTC)
        <input name="from" type="datetime-local" step="1" value={values.from} onInput={(e) => set({ from: text(e) })} />
      </label>
      <label>
        to (UTC)
        <input name="to" type="datetime-local" step="1" value={values.to} onInput={(e) => set({ to: text(e) })} />
      </label>
      <label class="check">
        <input name="debits" type="checkbox" checked={values.debits} onChange={(e) => set({ debits: checked(e) })} /> Debits
      </label>
      <label class="check">
        <input name="credits" type="checkbox" checked={values.credits} onChange={(e) => set({ credits: checked(e) })} /> Credits
      </label>
      <label class="check">
        <input name="newest" type="checkbox" checked={values.newest} onChange={(e) => set({ newest: checked(e) })} /> Newest first
      </label>
      <button type="submit">Filter</button>
      {error && <ErrorBox message={error} />}
    </form>
  );
}
