#!/usr/bin/env python3
"""The ledger's HTTP/JSON API from Python's standard library alone (docs/http-api.md).

Books 12.34 USD from alice to bob, retries the same transfer (it answers "exists": ids are
idempotency keys), reads the balances back, shows an error, and reads the change feed's stream.
The tests run this file as it is, against a real ledgerd.

    tools/run.sh                      # serves the HTTP API on 127.0.0.1:7702
    python3 docs/examples/http_example.py

Environment: LEDGER_HTTP (default http://127.0.0.1:7702) and LEDGER_TOKEN_FILE (default
data/token).
"""
import json
import os
import sys
import urllib.error
import urllib.request

BASE = os.environ.get("LEDGER_HTTP", "http://127.0.0.1:7702")
with open(os.environ.get("LEDGER_TOKEN_FILE", "data/token"), encoding="ascii") as token_file:
    TOKEN = token_file.read().strip()


def call(method, body):
    """POSTs body to /v1/<method>; returns the decoded answer, or raises on an HTTP error."""
    request = urllib.request.Request(
        f"{BASE}/v1/{method}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def expect_ok(results, *allowed):
    for result in results:
        if result["status"] not in ("ok",) + allowed:
            sys.exit(f"refused: {result['status']}")


LEDGER = 1
ALICE, BOB = "1001", "1002"  # ids and amounts are decimal strings: 128 bits do not fit a double

expect_ok(call("createLedgers", {"ledgers": [{"id": LEDGER, "scale": 2, "assetCode": "USD"}]})
          ["results"], "exists")
expect_ok(call("createAccounts", {"accounts": [
    {"id": ALICE, "ledger": LEDGER, "code": 10},
    {"id": BOB, "ledger": LEDGER, "code": 10},
]})["results"], "exists")

payment = {"id": "5001", "debitAccountId": ALICE, "creditAccountId": BOB, "amount": "1234",
           "ledger": LEDGER, "code": 1}
first = call("createTransfers", {"transfers": [payment]})["results"][0]
print("booked:", first["status"])
retry = call("createTransfers", {"transfers": [payment]})["results"][0]
print("retry:", retry["status"])  # exists: the same transfer, booked once

alice, bob = call("lookupAccounts", {"ids": [ALICE, BOB]})["accounts"]
owes = int(alice["debitsPosted"]) - int(alice["creditsPosted"])
holds = int(bob["creditsPosted"]) - int(bob["debitsPosted"])
print(f"alice owes {owes // 100}.{owes % 100:02} USD, bob holds {holds // 100}.{holds % 100:02} USD")

try:
    call("createTransfers", {"transfers": [dict(payment, amount=1234)]})  # a number, not a string
except urllib.error.HTTPError as error:
    print(f"error {error.code}:", json.load(error)["message"])

# The change feed: one JSON object a line, from a cursor, as changes commit (keep-alives are
# empty lines). Read up to the payment's change, then hang up.
stream = urllib.request.Request(f"{BASE}/v1/changes/stream?from=0",
                                headers={"Authorization": f"Bearer {TOKEN}"})
with urllib.request.urlopen(stream, timeout=30) as lines:
    for line in lines:
        if not line.strip():
            continue
        change = json.loads(line)["change"]
        if change["transfer"]["id"] == payment["id"]:
            print("feed:", change["sequence"], change["kind"], change["transfer"]["amount"])
            break
