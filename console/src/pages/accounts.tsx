// Account search: by id, or across the ledger by ledger, code and user data (queryAccounts),
// a page at a time, with balances in the ledger's units. The search lives in the route, so a
// search can be linked to and the back button works.
import { useState } from "preact/hooks";
import { type Account, AccountFlags, type LedgerInfo, type Session, ledgerInfo } from "../api.js";
import { flagNames, formatAmount, parseId } from "../format.js";
import { QUERY_FIELDS, QUERY_LABELS, TextFields, queryFilterOf, searchOf } from "../search.js";
import { ErrorBox, Pager, RecordLink, type Route, Show, href, useCursorPages, useLoad } from "../ui.js";

const PAGE_SIZE = 25;
const FIELDS = ["id", ...QUERY_FIELDS] as const;
type Field = (typeof FIELDS)[number];
const LABELS: Record<Field, string> = { id: "Account id", ...QUERY_LABELS };

export function AccountsPage(props: { session: Session; route: Route }) {
  const { session, route } = props;
  const search = searchOf(route, FIELDS);
  const key = FIELDS.map((field) => search[field]).join("|");
  const pages = useCursorPages(0n, key);
  const loaded = useLoad(() => find(session, search, pages.cursor), [session, key, pages.cursor]);
  return (
    <section>
      <h1>Accounts</h1>
      <SearchForm key={key} search={search} />
      <Show loaded={loaded}>
        {(found) => (
          <>
            <AccountTable accounts={found.accounts} ledgers={found.ledgers} />
            {found.accounts.length === 0 && <p class="muted" data-test="none">No account matches.</p>}
            <Pager page={pages.page} hasNext={found.next !== 0n} onPrevious={pages.previous} onNext={() => pages.next(found.next)} />
          </>
        )}
      </Show>
    </section>
  );
}

async function find(session: Session, search: Record<Field, string>, cursor: bigint) {
  let accounts: Account[];
  let next = 0n;
  if (search.id !== "") {
    accounts = await session.client.lookupAccounts([parseId(search.id)]);
  } else {
    const page = await session.client.queryAccounts({
      ...queryFilterOf(search),
      timestampMinNs: cursor,
      limit: PAGE_SIZE,
    });
    accounts = page.accounts;
    next = page.nextTimestampNs;
  }
  const ledgers = await ledgersOf(session, accounts.map((account) => account.ledger));
  return { accounts, next, ledgers };
}

export async function ledgersOf(session: Session, ids: number[]): Promise<Map<number, LedgerInfo>> {
  const unique = [...new Set(ids)];
  const infos = await Promise.all(unique.map((id) => ledgerInfo(session, id)));
  const ledgers = new Map<number, LedgerInfo>();
  infos.forEach((info) => info && ledgers.set(info.id, info));
  return ledgers;
}

function SearchForm(props: { search: Record<Field, string> }) {
  const [values, setValues] = useState(props.search);
  const [error, setError] = useState<string | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    try {
      if (values.id !== "") parseId(values.id);
      queryFilterOf(values);
      setError(null);
      location.hash = href("accounts", values);
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return (
    <form class="search" onSubmit={submit} data-test="account-search">
      <TextFields fields={FIELDS} labels={LABELS} values={values} onChange={setValues} />
      <button type="submit">Search</button>
      {error && <ErrorBox message={error} />}
    </form>
  );
}

export function AccountTable(props: { accounts: Account[]; ledgers: Map<number, LedgerInfo> }) {
  return (
    <table data-test="accounts">
      <thead>
        <tr>
          <th>Account</th>
          <th>Ledger</th>
          <th>Code</th>
          <th class="number">Debits posted</th>
          <th class="number">Credits posted</th>
          <th class="number">Debits pending</th>
          <th class="number">Credits pending</th>
          <th class="number">Net posted (cr − dr)</th>
          <th>Flags</th>
        </tr>
      </thead>
      <tbody>
        {props.accounts.map((account) => {
          const ledger = props.ledgers.get(account.ledger);
          const scale = ledger?.scale ?? 0;
          const amount = (value: bigint) => formatAmount(value, scale);
          return (
            <tr key={account.id.toString()} data-account={account.id.toString()}>
              <td>
                <RecordLink kind="account" id={account.id} />
              </td>
              <td>
                {account.ledger} <span class="muted">{ledger?.assetCode}</span>
              </td>
              <td>{account.code}</td>
              <td class="number" data-field="debitsPosted">{amount(account.debitsPosted)}</td>
              <td class="number" data-field="creditsPosted">{amount(account.creditsPosted)}</td>
              <td class="number" data-field="debitsPending">{amount(account.debitsPending)}</td>
              <td class="number" data-field="creditsPending">{amount(account.creditsPending)}</td>
              <td class="number" data-field="net">{amount(account.creditsPosted - account.debitsPosted)}</td>
              <td>{flagNames(account.flags, AccountFlags).join(", ")}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
