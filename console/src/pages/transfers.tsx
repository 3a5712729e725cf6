// Transfer search across the ledger (queryTransfers): by ledger, code and user data (an
// orchestrator's order or payment id is usually there), a page at a time.
import { useState } from "preact/hooks";
import { type Session, type Transfer } from "../api.js";
import { formatAmount, formatTime } from "../format.js";
import { QUERY_FIELDS, QUERY_LABELS, type QueryField, TextFields, queryFilterOf, searchOf } from "../search.js";
import { ErrorBox, Pager, RecordLink, type Route, Show, href, useCursorPages, useLoad } from "../ui.js";
import { transferKind } from "./account.js";
import { ledgersOf } from "./accounts.js";

const PAGE_SIZE = 25;

export function TransfersPage(props: { session: Session; route: Route }) {
  const { session, route } = props;
  const search = searchOf(route, QUERY_FIELDS);
  const newest = route.query.get("newest") !== "0";
  const key = `${QUERY_FIELDS.map((field) => search[field]).join("|")}|${newest}`;
  const pages = useCursorPages(0n, key);
  const loaded = useLoad(async () => {
    const page = await session.client.queryTransfers({
      ...queryFilterOf(search),
      reversed: newest,
      ...(newest ? { timestampMaxNs: pages.cursor } : { timestampMinNs: pages.cursor }),
      limit: PAGE_SIZE,
    });
    const ledgers = await ledgersOf(session, page.transfers.map((transfer) => transfer.ledger));
    return { ...page, ledgers };
  }, [session, key, pages.cursor]);
  return (
    <section>
      <h1>Transfers</h1>
      <SearchForm key={key} search={search} newest={newest} />
      <Show loaded={loaded}>
        {(page) => (
          <>
            <TransferTable transfers={page.transfers} scales={new Map([...page.ledgers].map(([id, info]) => [id, info.scale]))} />
            {page.transfers.length === 0 && <p class="muted" data-test="none">No transfer matches.</p>}
            <Pager page={pages.page} hasNext={page.nextTimestampNs !== 0n} onPrevious={pages.previous} onNext={() => pages.next(page.nextTimestampNs)} />
          </>
        )}
      </Show>
    </section>
  );
}

function SearchForm(props: { search: Record<QueryField, string>; newest: boolean }) {
  const [values, setValues] = useState(props.search);
  const [newest, setNewest] = useState(props.newest);
  const [error, setError] = useState<string | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    try {
      queryFilterOf(values);
      setError(null);
      location.hash = href("transfers", { ...values, newest: newest ? "" : "0" });
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return (
    <form class="search" onSubmit={submit} data-test="transfer-search">
      <TextFields fields={QUERY_FIELDS} labels={QUERY_LABELS} values={values} onChange={setValues} />
      <label class="check">
        <input name="newest" type="checkbox" checked={newest} onChange={(e) => setNewest((e.target as HTMLInputElement).checked)} /> Newest first
      </label>
      <button type="submit">Search</button>
      {error && <ErrorBox message={error} />}
    </form>
  );
}

export function TransferTable(props: { transfers: Transfer[]; scales: Map<number, number> }) {
  return (
    <table data-test="transfers">
      <thead>
        <tr>
          <th>Booked</th>
          <th>Transfer</th>
          <th>Debit</th>
          <th>Credit</th>
          <th class="number">Amount</th>
          <th>Ledger</th>
          <th>Code</th>
          <th>User data 128</th>
          <th>Kind</th>
        </tr>
      </thead>
      <tbody>
        {props.transfers.map((transfer) => (
          <tr key={transfer.id.toString()} data-transfer={transfer.id.toString()}>
            <td>{formatTime(transfer.timestampNs)}</td>
            <td>
              <RecordLink kind="transfer" id={transfer.id} />
            </td>
            <td>
              <RecordLink kind="account" id={transfer.debitAccountId} />
            </td>
            <td>
              <RecordLink kind="account" id={transfer.creditAccountId} />
            </td>
            <td class="number" data-field="amount">
              {formatAmount(transfer.amount, props.scales.get(transfer.ledger) ?? 0)}
            </td>
            <td>{transfer.ledger}</td>
            <td>{transfer.code}</td>
            <td>{transfer.userData128 === 0n ? "" : transfer.userData128.toString()}</td>
            <td>{transferKind(transfer)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
