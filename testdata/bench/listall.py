#!/usr/bin/env python3
"""Seconds to fetch every user through the paginated REST API (limit=200),
one keep-alive connection per round. usage: BENCH_TOKEN=… listall.py URL ROUNDS
Prints one line per round and `median_s=…`."""
import http.client, json, os, statistics, sys, time, urllib.parse

u = urllib.parse.urlparse(sys.argv[1])
h = {"Authorization": "token " + os.environ["BENCH_TOKEN"], "Accept": "application/jupyterhub-pagination+json"}
times = []
for r in range(int(sys.argv[2])):
    c = http.client.HTTPConnection(u.hostname, u.port)
    t0, off, n = time.perf_counter(), 0, 0
    while True:
        c.request("GET", f"/hub/api/users?offset={off}&limit=200", headers=h)
        d = json.loads(c.getresponse().read())
        n += len(d["items"])
        nxt = d["_pagination"].get("next")
        if not nxt:
            break
        off = nxt["offset"]
    times.append(time.perf_counter() - t0)
    print(f"round {r}: {n} users in {times[-1]:.3f} s")
print(f"median_s={statistics.median(times):.3f}")
