// The operator console: a login with a token (a read-only one suffices), then pages chosen by
// the location's hash. Everything it shows comes from ledgerd's HTTP API on the same origin.
import "./console.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { type Session, errorText, login, logout, savedToken } from "./api.js";
import { AccountPage } from "./pages/account.js";
import { AccountsPage } from "./pages/accounts.js";
import { FeedPage } from "./pages/feed.js";
import { LedgersPage } from "./pages/ledgers.js";
import { LogPage } from "./pages/log.js";
import { ServerPage } from "./pages/server.js";
import { TransferPage } from "./pages/transfer.js";
import { TransfersPage } from "./pages/transfers.js";
import { ErrorBox, type Route, href, useRoute } from "./ui.js";

const PAGES: Array<[string, string]> = [
  ["server", "Server"],
  ["ledgers", "Ledgers"],
  ["accounts", "Accounts"],
  ["transfers", "Transfers"],
  ["feed", "Change feed"],
  ["log", "Log"],
];

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState(savedToken() !== null);
  const route = useRoute();

  useEffect(() => {
    const token = savedToken();
    if (token === null) return;
    login(token)
      .then(setSession, () => logout())
      .finally(() => setRestoring(false));
  }, []);

  // Tests (and anyone scripting the console) wait for this: the route's page has rendered.
  useEffect(() => {
    if (session !== null) document.body.dataset.rendered = location.hash;
  }, [route, session]);

  if (restoring) return <p class="muted">Connecting…</p>;
  if (session === null) return <Login onSession={setSession} />;
  return (
    <>
      <header>
        <span class="brand">Ledger console</span>
        <nav>
          {PAGES.map(([path, title]) => (
            <a key={path} href={href(path)} class={route.path[0] === path || route.path[0] === path.slice(0, -1) ? "current" : ""}>
              {title}
            </a>
          ))}
        </nav>
        <GoTo />
        <span class="role" data-test="role" title="What this token may do">
          {session.info.role === "read" ? "read-only" : session.info.role}
          {session.info.ledgers.length > 0 ? `, ledgers ${session.info.ledgers.join(", ")}` : ""}
        </span>
        <button
          type="button"
          class="logout"
          onClick={() => {
            logout();
            setSession(null);
          }}
        >
          Log out
        </button>
      </header>
      <main>
        <Page session={session} route={route} />
      </main>
    </>
  );
}

function Page(props: { session: Session; route: Route }) {
  const { session, route } = props;
  const [page, id] = route.path;
  switch (page) {
    case "ledgers":
      return <LedgersPage session={session} />;
    case "accounts":
      return <AccountsPage session={session} route={route} />;
    case "account":
      return <AccountPage key={id} session={session} route={route} id={id ?? ""} />;
    case "transfers":
      return <TransfersPage session={session} route={route} />;
    case "transfer":
      return <TransferPage key={id} session={session} id={id ?? ""} />;
    case "feed":
      return <FeedPage session={session} route={route} />;
    case "log":
      return <LogPage session={session} />;
    default:
      return <ServerPage session={session} />;
  }
}

/** Opens a transfer or an account by id from any page. */
function GoTo() {
  const [text, setText] = useState("");
  const go = (kind: "transfer" | "account") => {
    if (text.trim() !== "") location.hash = href(`${kind}/${text.trim()}`);
  };
  return (
    <form
      class="goto"
      onSubmit={(event) => {
        event.preventDefault();
        go("transfer");
      }}
    >
      <input name="goto" placeholder="Transfer or account id" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
      <button type="submit">Transfer</button>
      <button type="button" onClick={() => go("account")}>
        Account
      </button>
    </form>
  );
}

function Login(props: { onSession: (session: Session) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      props.onSession(await login(token.trim()));
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="login" onSubmit={submit} data-test="login">
      <h1>Ledger console</h1>
      <p class="muted">A token of the server's: a read-only one shows everything here. It is kept for this tab only.</p>
      <label>
        Token
        <input name="token" type="password" autoComplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit" disabled={busy || token.trim() === ""}>
        Log in
      </button>
      {error && <ErrorBox message={error} />}
    </form>
  );
}

render(<App />, document.getElementById("app")!);
