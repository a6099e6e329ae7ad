#!/usr/bin/env python3
"""The bare read of bench/sources.sh's snowflake path: one statement through
the Snowflake SQL API v2 with a minimal client (standard library, the
KEYPAIR_JWT signed by the openssl CLI), the way any SQL API client reads it:
POST the statement, poll 202 answers, then fetch partitions 1.. one by one,
gzip-encoded. No snowflake-connector-python is installed by `make deps` (it
speaks the older login API, not the SQL API), so this stands in for "the
vendor's client". Prints the number of rows read.

usage: snow-read.py ENDPOINT ACCOUNT USER KEY.pem STATEMENT
"""
import base64
import gzip
import json
import subprocess
import sys
import time
import urllib.request


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(account, user, key):
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    fp = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der, check=True,
                        capture_output=True).stdout
    who = f"{account.upper()}.{user.upper()}"
    now = int(time.time())
    head = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"iss": f"{who}.SHA256:{base64.b64encode(fp).decode()}",
                              "sub": who, "iat": now, "exp": now + 3540}).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                         input=f"{head}.{body}".encode(), check=True,
                         capture_output=True).stdout
    return f"{head}.{body}.{b64url(sig)}"


def call(url, token, data=None):
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET", headers={
        "Authorization": "Bearer " + token,
        "X-Snowflake-Authorization-Token-Type": "KEYPAIR_JWT",
        "Content-Type": "application/json", "Accept": "application/json",
        "Accept-Encoding": "gzip", "User-Agent": "retl-bench-bare-read/1"})
    with urllib.request.urlopen(req, timeout=600) as r:
        raw = r.read()
        if r.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        return r.status, json.loads(raw)


def main():
    endpoint, account, user, key, stmt = sys.argv[1:6]
    token = jwt(account, user, key)
    base = endpoint.rstrip("/")
    status, r = call(base + "/api/v2/statements",
                     token, json.dumps({"statement": stmt, "timeout": 600}).encode())
    while status == 202:
        time.sleep(0.05)
        status, r = call(base + r["statementStatusUrl"], token)
    handle = r["statementHandle"]
    n = len(r["data"])
    parts = r["resultSetMetaData"]["partitionInfo"]
    for i in range(1, len(parts)):
        _, p = call(f"{base}/api/v2/statements/{handle}?partition={i}", token)
        n += len(p["data"])
    print(n)


if __name__ == "__main__":
    main()
