#!/usr/bin/env bash
# make bench-peer, part 2: the REST API with 10,000 users, hpcgate side by
# side with JupyterHub 3.0 (Debian's), and both hubs' RSS. Needs root, the
# loopback cluster's LDAP and SSH settings (the hub must start; no job runs).
#   BENCH_MODE=quick|full as for peer.sh; BENCH_USERS (default 10000)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/testdata/bench
STATE=${STATE:-/tmp/hpcgate-cluster}
ENVF=$STATE/cluster.env
[ -f "$ENVF" ] || { echo "no $ENVF: run make cluster-up first" >&2; exit 1; }
get() { sed -n "s/^$1=//p" "$ENVF"; }
case ${BENCH_MODE:-quick} in
  quick) ROUNDS=1; DUR=3s ;;
  medium) ROUNDS=3; DUR=5s ;;
  full)  ROUNDS=5; DUR=10s ;;
  *) echo "BENCH_MODE is quick, medium or full" >&2; exit 1 ;;
esac
N=${BENCH_USERS:-10000}
W=${BENCH_WORK:-/tmp/hpcgate-bench}/api
OUT=${BENCH_OUT:-${BENCH_WORK:-/tmp/hpcgate-bench}/results}
mkdir -p "$W" "$OUT"; rm -rf "$W"/*; rm -f "$OUT/api.jsonl"
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null
command -v jupyterhub >/dev/null || { echo "JupyterHub is Debian's jupyterhub package: apt-get install jupyterhub" >&2; exit 1; }
CHP=${BENCH_CACHE:-$HOME/.cache/hpcgate-bench}/chp530/node_modules/.bin  # JupyterHub starts CHP (5.3.0, see peer.sh)
[ -x "$CHP/configurable-http-proxy" ] || npm install --silent --prefix "$(dirname "$(dirname "$CHP")")" configurable-http-proxy@5.3.0 >/dev/null
(cd "$REPO" && go build -o "$W/hpcgate" ./cmd/hpcgate)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

HP=18400
cat > "$W/site.yaml" <<YAML
hub:
  listen: 127.0.0.1:$HP
  public_url: http://127.0.0.1:$HP
  data_dir: $W/data
  log_level: warn
ldap:
  url: $(get LDAP_URL)
  start_tls: true
  ca_file: $(get LDAP_CA_FILE)
  bind_dn: $(get LDAP_BIND_DN)
  bind_password_file: $(get LDAP_BIND_PASSWORD_FILE)
  user_base_dn: ou=people,dc=example,dc=org
  allowed_groups: ["cn=hpc-users,ou=groups,dc=example,dc=org"]
clusters:
  - name: local
    scheduler: slurm
    login: {host: 127.0.0.1, port: 2222, known_hosts: $(get SSH_KNOWN_HOSTS), user_ca_key: $(get SSH_USER_CA)}
    profiles:
      - name: small
YAML
"$W/hpcgate" upgrade-db -f "$W/site.yaml" >/dev/null
python3 - "$W/data/hpcgate.sqlite" "$N" <<'PY'
import sqlite3, sys, datetime
db, n = sys.argv[1], int(sys.argv[2])
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
c = sqlite3.connect(db)
c.executemany("INSERT OR IGNORE INTO users (name, admin, user_groups, created_at) VALUES (?, 0, '[]', ?)",
              [("u%05d" % i, now) for i in range(n)])
c.execute("INSERT OR REPLACE INTO users (name, admin, user_groups, created_at) VALUES ('carol', 1, '[]', ?)", (now,))
c.commit()
PY
HT=$("$W/hpcgate" token -f "$W/site.yaml" carol)
("$W/hpcgate" serve -f "$W/site.yaml" > "$W/hub.log" 2>&1) & HG=$!; PIDS+=($HG)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$HP/hub/health" && break; sleep 0.2; done

export BENCH_ADMIN_TOKEN=jh-bench-$$-$RANDOM
mkdir -p "$W/jh"
(cd "$W/jh" && PATH=$CHP:$PATH JH_STATE=$W/jh JH_PORT=18500 JH_HUB_PORT=18581 JH_PROXY_API_PORT=18501 \
  exec jupyterhub -f "$HERE/jupyterhub_config.py" > "$W/jh/hub.log" 2>&1) & JH=$!; PIDS+=($JH)
for _ in $(seq 120); do curl -sf -o /dev/null http://127.0.0.1:18581/hub/api && break; sleep 0.5; done
JT="Authorization: token $BENCH_ADMIN_TOKEN"
for b in $(seq 0 1000 $((N-1))); do
  python3 -c "import json,sys;b=int(sys.argv[1]);print(json.dumps({'usernames':['u%05d'%i for i in range(b,min(b+1000,$N))]}))" "$b" |
    curl -sf -o /dev/null -H "$JT" -X POST --data @- http://127.0.0.1:18581/hub/api/users
done

H="Authorization: token $HT"
for u in "http://127.0.0.1:$HP|$H" "http://127.0.0.1:18581|$JT"; do
  n=$(curl -s -H "${u#*|}" "${u%%|*}/hub/api/users?limit=200" | python3 -c "import json,sys;print(len(json.load(sys.stdin)))")
  [ "$n" = 200 ] || { echo "${u%%|*}: limit=200 returned $n users" >&2; exit 1; }
done
B=("$HERE/bench.py" run --out "$OUT/api.jsonl" --rounds "$ROUNDS" --watch hpcgate=$HG --watch jupyterhub=$JH)
L="/hub/api/users?limit=200"; O="/hub/api/users/u00042"
echo "== REST API, $N users"
"${B[@]}" --scenario api_c8 --wrk "-t2 -c8 -d$DUR" "hpcgate@list200=http://127.0.0.1:$HP$L|$H" "jupyterhub@list200=http://127.0.0.1:18581$L|$JT" \
  "hpcgate@user=http://127.0.0.1:$HP$O|$H" "jupyterhub@user=http://127.0.0.1:18581$O|$JT"
"${B[@]}" --scenario api_c1 --wrk "-t1 -c1 -d$DUR" "hpcgate@list200=http://127.0.0.1:$HP$L|$H" "jupyterhub@list200=http://127.0.0.1:18581$L|$JT"
{
  echo "full list, paginated (limit=200): hpcgate $(BENCH_TOKEN=$HT "$HERE/listall.py" "http://127.0.0.1:$HP" "$ROUNDS" | tail -1)," \
       "jupyterhub $(BENCH_TOKEN=$BENCH_ADMIN_TOKEN "$HERE/listall.py" http://127.0.0.1:18581 "$ROUNDS" | tail -1)"
  echo "hub RSS after the run: hpcgate $(awk '/VmRSS/{printf "%.0f", $2/1024}' /proc/$HG/status) MB, jupyterhub $(awk '/VmRSS/{printf "%.0f", $2/1024}' /proc/$JH/status) MB"
} | tee "$OUT/api.txt"
