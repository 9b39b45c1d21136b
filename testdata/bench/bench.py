#!/usr/bin/env python3
"""Side-by-side HTTP runs for `make bench-peer`.

  bench.py run --out F.jsonl --scenario NAME --wrk "-t2 -c32 -d10s" --rounds 5 [--bytes N]
               [--watch NAME=PID ...] [--sshd PID] LABEL=URL[|Header: value] ...
      Rounds alternate between the targets (so drift in the machine's load hits
      all of them alike). Each run records wrk's req/s and latency and, from
      /proc, the CPU seconds of every watched process (utime+stime; for --sshd,
      the listener's descendants and what they reaped) and their peak RSS.
  bench.py ws --out F.jsonl --wsrtt BIN --rounds 5 --n 2000 LABEL=URL[|Header: value] ...
  bench.py table DIR   medians per target of every F.jsonl in DIR, as markdown.
"""
import argparse, json, os, re, shlex, statistics, subprocess, sys, threading

TCK = os.sysconf("SC_CLK_TCK")
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
# The processes that are "the proxy" for each target: its CPU per 10k requests.
PROXY = {"direct": [], "chp": ["chp"], "chp_sshL": ["chp_sshL", "ssh", "sshd"], "sshL": ["ssh", "sshd"],
         "hpcgate": ["hpcgate", "sshd"], "hpcgate_direct": ["hpcgate"], "jupyterhub": ["jupyterhub"],
         "gofloor": ["gofloor", "sshd"], "gofloor_direct": ["gofloor_direct"],
         "gofloor_bytes": ["gofloor_bytes", "sshd"], "gofloor_bytes_direct": ["gofloor_bytes_direct"]}
RSS = {"chp": "chp", "chp_sshL": "chp_sshL", "sshL": "ssh", "hpcgate": "hpcgate", "hpcgate_direct": "hpcgate",
       "jupyterhub": "jupyterhub", "gofloor": "gofloor", "gofloor_direct": "gofloor_direct",
       "gofloor_bytes": "gofloor_bytes", "gofloor_bytes_direct": "gofloor_bytes_direct"}


def stat(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu(pid, reaped=False):
    f = stat(pid)
    if not f:
        return 0.0
    t = int(f[11]) + int(f[12])
    if reaped:
        t += int(f[13]) + int(f[14])
    return t / TCK


def descendants(root):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = stat(d)
            if f:
                kids.setdefault(int(f[1]), []).append(int(d))
    out, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def group_cpu(name, pids, sshd):
    if name == "sshd":  # per-connection sshd processes, including any that exited mid-run
        return sum(cpu(p, True) for p in descendants(sshd)) + cpu(sshd, True) - cpu(sshd)
    return sum(cpu(p) for p in pids)


def parse_wrk(out):
    def ms(tok):
        m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", tok)
        return float(m.group(1)) * UNIT[m.group(2)]
    r = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
         "requests": int(re.search(r"(\d+) requests in", out).group(1))}
    for p in ("50", "99"):
        r[f"p{p}_ms"] = ms(re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    r["sock_err"] = m.group(1).strip() if m else ""
    return r


def targets(specs):
    out = []
    for s in specs:
        label, rest = s.split("=", 1)
        url, _, header = rest.partition("|")
        out.append((label, url, header))
    return out


def run(a):
    watch = [(w.split("=")[0], int(w.split("=")[1])) for w in a.watch]
    outf = open(a.out, "a")
    ts = targets(a.targets)
    hdr = lambda h: ["-H", h] if h else []
    for label, url, h in ts:  # warm-up: JIT, keep-alive pools, tunnel channels
        subprocess.run(["wrk", "-t1", "-c4", "-d1s"] + hdr(h) + [url], capture_output=True)
    for rnd in range(a.rounds):
        for label, url, h in ts:
            g = {n: [p] for n, p in watch}
            if a.sshd:
                g["sshd"] = descendants(a.sshd)
            c0 = {n: group_cpu(n, ps, a.sshd) for n, ps in g.items()}
            peak = {n: sum(rss_kb(p) for p in ps) for n, ps in g.items()}
            stop = threading.Event()

            def sample():
                while not stop.wait(0.25):
                    for n, ps in g.items():
                        peak[n] = max(peak[n], sum(rss_kb(p) for p in ps))
            th = threading.Thread(target=sample)
            th.start()
            p = subprocess.run(["wrk"] + shlex.split(a.wrk) + ["--latency"] + hdr(h) + [url], capture_output=True, text=True)
            stop.set()
            th.join()
            c1 = {n: group_cpu(n, ps, a.sshd) for n, ps in g.items()}
            try:
                r = parse_wrk(p.stdout)
            except AttributeError:
                sys.exit(f"wrk failed for {label} {url}:\n{p.stdout}{p.stderr}")
            r.update(scenario=a.scenario, wrk=a.wrk, label=label, round=rnd,
                     load1=float(open("/proc/loadavg").read().split()[0]),
                     cpu_per_10k={n: (c1[n] - c0[n]) / max(r["requests"], 1) * 1e4 for n in g},
                     rss_peak_kb=peak)
            if a.bytes:
                r["MBps"] = r["rps"] * a.bytes / 1e6
            outf.write(json.dumps(r) + "\n")
            outf.flush()
            print(f"  {a.scenario:10s} {label:15s} r{rnd} {r['rps']:9.0f} req/s p50 {r['p50_ms']:.3f} ms"
                  f" non-2xx {r['non2xx']} {r['sock_err']}", flush=True)


def ws(a):
    outf = open(a.out, "a")
    for rnd in range(a.rounds):
        for label, url, h in targets(a.targets):
            for size in (32, 4096):
                cmd = [a.wsrtt, "-url", url, "-n", str(a.n), "-warmup", "200", "-size", str(size)] + (["-H", h] if h else [])
                p = subprocess.run(cmd, capture_output=True, text=True)
                m = dict(re.findall(r"(\w+)=(\S+)", p.stdout))
                if "p50_us" not in m:
                    sys.exit(f"wsrtt failed for {label}: {p.stderr}")
                r = {"scenario": f"ws{size}", "label": label, "round": rnd, **{k: float(v) for k, v in m.items()}}
                outf.write(json.dumps(r) + "\n")
                print(f"  ws{size:<8d} {label:15s} r{rnd} p50 {r['p50_us']:.0f} µs", flush=True)


def table(a):
    med = statistics.median
    rows = {}
    for name in sorted(os.listdir(a.dir)):
        if name.endswith(".jsonl"):
            for line in open(os.path.join(a.dir, name)):
                r = json.loads(line)
                rows.setdefault(r["scenario"], {}).setdefault(r["label"], []).append(r)
    for sc, by in rows.items():
        if sc.startswith("ws"):
            print(f"\n### WebSocket {sc[2:]} B round trip, one connection (µs, median of rounds)\n")
            print("| target | p50 | p90 | p99 | rounds |\n|---|---|---|---|---|")
            for label, rs in by.items():
                print(f"| {label} | {med(x['p50_us'] for x in rs):.0f} | {med(x['p90_us'] for x in rs):.0f} | "
                      f"{med(x['p99_us'] for x in rs):.0f} | {len(rs)} |")
            continue
        first = next(iter(by.values()))[0]
        mb = "MBps" in first
        print(f"\n### {sc}: wrk {first['wrk']} (median of {len(next(iter(by.values())))} rounds)\n")
        print("| target | req/s |" + (" MB/s |" if mb else "") + " p50 ms | p99 ms | proxy CPU s / 10k req | by process | peak RSS MB | non-2xx |")
        print("|---|---|" + ("---|" if mb else "") + "---|---|---|---|---|---|")
        for label, rs in by.items():
            kind = label.split("@")[0]
            procs = PROXY.get(kind, [kind])
            c = med(sum(x["cpu_per_10k"].get(p, 0) for p in procs) for x in rs)
            each = " + ".join(f"{p} {med(x['cpu_per_10k'].get(p, 0) for x in rs):.2f}" for p in procs)
            rp = RSS.get(kind)
            rss = max(x["rss_peak_kb"].get(rp, 0) for x in rs) / 1024 if rp else 0
            print(f"| {label} | {med(x['rps'] for x in rs):,.0f} |" + (f" {med(x['MBps'] for x in rs):,.0f} |" if mb else "") +
                  f" {med(x['p50_ms'] for x in rs):.3f} | {med(x['p99_ms'] for x in rs):.2f} | {c:.2f} | {each} | "
                  f"{rss:.0f} | {sum(x['non2xx'] for x in rs)} |")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--scenario", required=True)
    r.add_argument("--wrk", required=True)
    r.add_argument("--rounds", type=int, default=5)
    r.add_argument("--bytes", type=int, default=0)
    r.add_argument("--watch", action="append", default=[])
    r.add_argument("--sshd", type=int, default=0)
    r.add_argument("targets", nargs="+")
    w = sub.add_parser("ws")
    w.add_argument("--out", required=True)
    w.add_argument("--wsrtt", required=True)
    w.add_argument("--rounds", type=int, default=5)
    w.add_argument("--n", type=int, default=2000)
    w.add_argument("targets", nargs="+")
    t = sub.add_parser("table")
    t.add_argument("dir")
    a = ap.parse_args()
    {"run": run, "ws": ws, "table": table}[a.cmd](a)


if __name__ == "__main__":
    main()
