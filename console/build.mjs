// Bundles the console into dist/ (index.html, assets/console.js, assets/console.css) for
// ledgerd to serve (--console-dir console/dist). The client's types are generated from
// docs/openapi.json first, as the client's own build does.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const client = join(here, "..", "clients", "node");
execFileSync(process.execPath, [join(client, "scripts", "generate.mjs"), join(here, "..", "docs", "openapi.json"), join(client, "src", "generated.ts")], { stdio: "inherit" });

const out = join(here, "dist");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });
await esbuild.build({
  // main.tsx imports console.css, so the bundle has a console.css beside console.js.
  entryPoints: { console: join(here, "src", "main.tsx") },
  outdir: join(out, "assets"),
  bundle: true,
  minify: true,
  sourcemap: "linked",
  format: "esm",
  target: ["chrome110", "firefox110", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "linked",
  logLevel: "warning",
});
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));
