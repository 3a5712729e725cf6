// Ledgers with their trial balances: the sums of every account's debits and credits, pending and
// posted, which must agree.
import { type LedgerInfo, type Session, type TrialBalance, queryLedgers } from "../api.js";
import { formatAmount, formatCount, formatTime, wideSum } from "../format.js";
import { Pager, Show, href, useCursorPages, useLoad } from "../ui.js";

const PAGE_SIZE = 25;

export function LedgersPage(props: { session: Session }) {
  const { session } = props;
  const pages = useCursorPages(1, "ledgers");
  const loaded = useLoad(async () => {
    const page = await queryLedgers(session, pages.cursor, PAGE_SIZE);
    const balances = await Promise.all(page.ledgers.map((ledger) => session.client.trialBalance(ledger.id)));
    return { ...page, balances };
  }, [session, pages.cursor]);
  return (
    <section>
      <h1>Ledgers</h1>
      <Show loaded={loaded}>
        {(page) => (
          <>
            <table data-test="ledgers">
              <thead>
                <tr>
                  <th>Ledger</th>
                  <th>Asset</th>
                  <th class="number">Accounts</th>
                  <th class="number">Debits posted</th>
                  <th class="number">Credits posted</th>
                  <th class="number">Debits pending</th>
                  <th class="number">Credits pending</th>
                  <th>Balanced</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                {page.ledgers.map((ledger, i) => (
                  <LedgerRow key={ledger.id} ledger={ledger} balance={page.balances[i]!} />
                ))}
              </tbody>
            </table>
            {page.ledgers.length === 0 && <p class="muted">No ledgers yet.</p>}
            <Pager page={pages.page} hasNext={page.nextId !== 0} onPrevious={pages.previous} onNext={() => pages.next(page.nextId)} />
          </>
        )}
      </Show>
    </section>
  );
}

function LedgerRow(props: { ledger: LedgerInfo; balance: TrialBalance }) {
  const { ledger, balance } = props;
  const amount = (sum: TrialBalance["debitsPosted"]) => formatAmount(wideSum(sum), ledger.scale);
  return (
    <tr data-ledger={ledger.id}>
      <td>
        <a href={href("accounts", { ledger: String(ledger.id) })}>{ledger.id}</a>
      </td>
      <td>
        {ledger.assetCode} <span class="muted">(scale {ledger.scale})</span>
      </td>
      <td class="number">{formatCount(balance.accountCount)}</td>
      <td class="number" data-field="debitsPosted">{amount(balance.debitsPosted)}</td>
      <td class="number" data-field="creditsPosted">{amount(balance.creditsPosted)}</td>
      <td class="number" data-field="debitsPending">{amount(balance.debitsPending)}</td>
      <td class="number" data-field="creditsPending">{amount(balance.creditsPending)}</td>
      <td data-field="balanced">{balance.balanced ? "✓ yes" : "✗ NO"}</td>
      <td>{formatTime(ledger.timestampNs)}</td>
    </tr>
  );
}
