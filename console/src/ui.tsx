// Small pieces every page uses: the hash route, loading a promise into state, tables, pagers.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { errorText } from "./api.js";

/** The route: the part of location.hash after "#/", split into path and query. */
export interface Route {
  path: string[];
  query: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path = "", query = ""] = hash.split("?", 2);
  return { path: path.split("/").filter((part) => part !== "").map(decodeURIComponent), query: new URLSearchParams(query) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const changed = () => setRoute(currentRoute());
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

/** A link to a route of the console. */
export function href(path: string, query?: Record<string, string>): string {
  const search = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "")).toString() : "";
  return `#/${path}${search ? `?${search}` : ""}`;
}

export type Loaded<T> = { state: "loading" } | { state: "error"; message: string } | { state: "done"; value: T };

/**
 * Runs `load` whenever a dependency changes. An answer counts only for the dependencies it was
 * asked with: from the render in which they change, the state is "loading" (never the last
 * answer of other ones), and a late answer to earlier ones is dropped.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [answer, setAnswer] = useState<{ deps: unknown[]; loaded: Loaded<T> }>({ deps, loaded: { state: "loading" } });
  useEffect(() => {
    let current = true;
    load().then(
      (value) => current && setAnswer({ deps, loaded: { state: "done", value } }),
      (error: unknown) => current && setAnswer({ deps, loaded: { state: "error", message: errorText(error) } }),
    );
    return () => {
      current = false;
    };
  }, deps);
  const same = answer.deps.length === deps.length && answer.deps.every((dep, i) => Object.is(dep, deps[i]));
  return same ? answer.loaded : { state: "loading" };
}

/** Shows a load's value through `render`, or that it is loading, or its error. */
export function Show<T>(props: { loaded: Loaded<T>; children: (value: T) => ComponentChildren }) {
  const { loaded } = props;
  if (loaded.state === "loading") return <p class="muted" data-test="loading">Loading…</p>;
  if (loaded.state === "error") return <ErrorBox message={loaded.message} />;
  return <>{props.children(loaded.value)}</>;
}

export function ErrorBox(props: { message: string }) {
  return (
    <p class="error" role="alert" data-test="error">
      {props.message}
    </p>
  );
}

/** Label-value rows. */
export function Fields(props: { rows: Array<[string, ComponentChildren]>; test?: string }) {
  return (
    <dl class="fields" data-test={props.test}>
      {props.rows.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd data-field={label}>{value === "" ? <span class="muted">—</span> : value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A link to an account's or a transfer's page, named by its id. */
export function RecordLink(props: { kind: "account" | "transfer"; id: bigint }) {
  return <a href={href(`${props.kind}/${props.id}`)}>{props.id.toString()}</a>;
}

/** Previous and next page buttons over a stack of cursors. */
export function Pager(props: { page: number; hasNext: boolean; onPrevious: () => void; onNext: () => void }) {
  return (
    <div class="pager">
      <button type="button" disabled={props.page === 0} onClick={props.onPrevious} data-test="previous">
        ← Previous
      </button>
      <span data-test="page">Page {props.page + 1}</span>
      <button type="button" disabled={!props.hasNext} onClick={props.onNext} data-test="next">
        Next →
      </button>
    </div>
  );
}

/**
 * Cursor pagination as the API has it (each page's answer names the next page's cursor): a
 * stack of the cursors of the pages seen, so Previous goes back exactly.
 */
export function useCursorPages<C>(first: C, resetKey: string) {
  const [state, setState] = useState({ key: resetKey, cursors: [first] });
  const cursors = state.key === resetKey ? state.cursors : [first];
  const page = cursors.length - 1;
  return {
    page,
    cursor: cursors[page] ?? first,
    next: (cursor: C) => setState({ key: resetKey, cursors: [...cursors, cursor] }),
    previous: () => setState({ key: resetKey, cursors: cursors.slice(0, Math.max(1, page)) }),
  };
}
