#!/usr/bin/env python3
"""Drives a ledgerd's HTTP/JSON API (docs/http-api.md) with ledger-bench's default workload:
plain transfers between uniformly random accounts, batches of 8,190, a closed loop over a few
keep-alive connections. The bodies are encoded before the clock starts, so the figure is the
server's (and the socket's), not Python's JSON encoder. Every result must be "ok"; the trial
balance must balance at the end.

    python3 bench/http_load.py --url http://127.0.0.1:7702 --token-file data/token \
        --transfers 2000000 --connections 2

Prints transfers/s and batch latency (p50, p99). Standard library only.
"""
import argparse
import http.client
import json
import random
import threading
import time
import urllib.parse


def post(connection, token, method, body):
    connection.request("POST", f"/v1/{method}", body=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise SystemExit(f"{method}: HTTP {response.status}: {data[:300]!r}")
    return data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--transfers", type=int, default=2_000_000)
    parser.add_argument("--batch", type=int, default=8190)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--ledger", type=int, default=1)
    parser.add_argument("--first-id", type=int, default=1 << 40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with open(args.token_file, encoding="ascii") as token_file:
        token = token_file.read().strip()
    url = urllib.parse.urlparse(args.url)

    def connect():
        return http.client.HTTPConnection(url.hostname, url.port, timeout=120)

    setup = connect()
    post(setup, token, "createLedgers",
         json.dumps({"ledgers": [{"id": args.ledger, "scale": 2, "assetCode": "USD"}]}))
    account_base = args.first_id
    for start in range(0, args.accounts, args.batch):
        accounts = [{"id": str(account_base + i), "ledger": args.ledger, "code": 1}
                    for i in range(start, min(args.accounts, start + args.batch))]
        post(setup, token, "createAccounts", json.dumps({"accounts": accounts}))

    rng = random.Random(args.seed)
    bodies = []
    transfer_id = args.first_id
    for start in range(0, args.transfers, args.batch):
        transfers = []
        for _ in range(start, min(args.transfers, start + args.batch)):
            debit = rng.randrange(args.accounts)
            credit = (debit + 1 + rng.randrange(args.accounts - 1)) % args.accounts
            transfers.append('{"id":"%d","debitAccountId":"%d","creditAccountId":"%d",'
                             '"amount":"%d","ledger":%d,"code":1}' % (
                                 transfer_id, account_base + debit, account_base + credit,
                                 1 + rng.randrange(1000), args.ledger))
            transfer_id += 1
        bodies.append(('{"transfers":[' + ",".join(transfers) + "]}").encode())
    body_bytes = sum(len(body) for body in bodies)

    latencies = []
    failures = []
    lock = threading.Lock()
    next_batch = iter(range(len(bodies)))

    def worker():
        connection = connect()
        while True:
            with lock:
                index = next(next_batch, None)
            if index is None:
                return
            started = time.perf_counter()
            answer = post(connection, token, "createTransfers", bodies[index])
            elapsed = time.perf_counter() - started
            not_ok = sum(1 for result in json.loads(answer)["results"]
                         if result["status"] != "ok")
            with lock:
                latencies.append(elapsed)
                if not_ok:
                    failures.append((index, not_ok))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"batches with results other than ok: {failures[:5]}")
    trial = json.loads(post(connect(), token, "trialBalance",
                            json.dumps({"ledger": args.ledger})))["trialBalance"]
    if not trial["balanced"]:
        raise SystemExit("the trial balance does not balance")
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"http: {args.transfers} transfers in {seconds:.2f} s: "
          f"{args.transfers / seconds:,.0f} transfers/s; batch p50 {p50 * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms; {body_bytes / args.transfers:.0f} bytes of JSON a transfer; "
          f"validated (all ok, balanced)")


if __name__ == "__main__":
    main()
