// What the account and transfer searches share: the ledger-wide query's fields (QueryFilter),
// read from the route and parsed from text boxes, and the boxes themselves.
import { type Route } from "./ui.js";
import { parseId, parseSmall } from "./format.js";

export const QUERY_FIELDS = ["ledger", "code", "userData128", "userData64", "userData32"] as const;
export type QueryField = (typeof QUERY_FIELDS)[number];
export const QUERY_LABELS: Record<QueryField, string> = {
  ledger: "Ledger",
  code: "Code",
  userData128: "User data 128",
  userData64: "User data 64",
  userData32: "User data 32",
};

/** The QueryFilter fields a search names ("" is 0: any); throws a message for a bad one. */
export function queryFilterOf(search: Record<QueryField, string>) {
  return {
    ledger: parseSmall(search.ledger, "ledger", 2 ** 32 - 1),
    code: parseSmall(search.code, "code", 65535),
    userData128: search.userData128 === "" ? 0n : parseId(search.userData128),
    userData64: search.userData64 === "" ? 0n : parseId(search.userData64),
    userData32: parseSmall(search.userData32, "user data 32", 2 ** 32 - 1),
  };
}

/** A search's fields as the route has them ("" when absent). */
export function searchOf<F extends string>(route: Route, fields: readonly F[]): Record<F, string> {
  return Object.fromEntries(fields.map((field) => [field, route.query.get(field) ?? ""])) as Record<F, string>;
}

/** A labelled text box for each field. */
export function TextFields<F extends string>(props: {
  fields: readonly F[];
  labels: Record<F, string>;
  values: Record<F, string>;
  onChange: (values: Record<F, string>) => void;
}) {
  return (
    <>
      {props.fields.map((field) => (
        <label key={field}>
          {props.labels[field]}
          <input
            name={field}
            value={props.values[field]}
            inputMode="numeric"
            onInput={(event) => props.onChange({ ...props.values, [field]: (event.target as HTMLInputElement).value })}
          />
        </label>
      ))}
    </>
  );
}
