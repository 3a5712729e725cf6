// Runs the real ledgerd for the tests: a temporary data directory, loopback ports, stopped
// (SIGTERM, then SIGKILL) by the test or when this process exits.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
export const LEDGERD = process.env.LEDGERD ?? resolve(here, "../../../build/release/tools/ledgerd");

const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

export class Ledgerd {
  static async create(extraFlags = []) {
    const server = new Ledgerd();
    server.directory = mkdtempSync(join(tmpdir(), "ledger-node-"));
    server.dataDir = join(server.directory, "data");
    const init = spawnSync(LEDGERD, ["init", "--data-dir", server.dataDir], { encoding: "utf8" });
    if (init.status !== 0) throw new Error(`ledgerd init: ${init.stderr}`);
    server.token = readFileSync(join(server.dataDir, "token"), "utf8").trim();
    server.httpPort = await freePort();
    server.url = `http://127.0.0.1:${server.httpPort}`;
    server.extraFlags = extraFlags;
    await server.start();
    return server;
  }

  async start() {
    const ready = join(this.directory, "ready");
    rmSync(ready, { force: true });
    this.log = "";
    this.child = spawn(LEDGERD, [
      "--data-dir", this.dataDir, "--listen", "127.0.0.1:0",
      "--http", `127.0.0.1:${this.httpPort}`, "--ready-file", ready,
      "--hot-transfers", "0", "--accounts-capacity", "65536", "--transfers-capacity", "1048576",
      "--snapshot-interval-ops", "0", ...this.extraFlags,
    ], { stdio: ["ignore", "pipe", "pipe"] });
    running.add(this.child);
    this.child.stdout.on("data", (data) => { this.log += data; });
    this.child.stderr.on("data", (data) => { this.log += data; });
    this.exited = new Promise((done) => this.child.once("exit", (code, signal) => {
      running.delete(this.child);
      done(code ?? signal);
    }));
    for (let waited = 0; !existsSync(ready); waited += 10) {
      if (this.child.exitCode !== null || waited > 60_000) {
        throw new Error(`ledgerd did not start:\n${this.log}`);
      }
      await sleep(10);
    }
  }

  /** SIGTERM (graceful); the exit code. */
  async stop() {
    this.child.kill("SIGTERM");
    return this.exited;
  }

  async close() {
    if (this.child.exitCode === null && this.child.signalCode === null) await this.stop();
    rmSync(this.directory, { recursive: true, force: true });
  }
}
