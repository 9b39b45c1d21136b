#!/usr/bin/env bash
# make bench-peer, part 1: the proxy side by side. One origin app runs as
# alice's job (through the tunnel) and one as bob's (proxy: direct); the
# same wrk options go to each target in alternating rounds:
#   direct          the origin itself
#   chp             configurable-http-proxy 5.3.0 (npm) -> the origin
#   chp_sshL        CHP -> `ssh -L` -> the origin
#   sshL            `ssh -L` alone
#   hpcgate         hpcgate (token check + SSH tunnel through the login node)
#   hpcgate_direct  hpcgate with proxy: direct (bob's origin)
#   gofloor         the least a Go proxy can do (gofloor/: http.ReadRequest
#                   loop, no rights checked) through its own x/crypto/ssh tunnel
#   gofloor_direct  the same, straight to bob's origin
#   gofloor_bytes, gofloor_bytes_direct  gofloor -bytes: heads and bodies
#                   copied as bytes, not parsed by net/http (small JSON only)
# Needs root and the loopback cluster (make cluster-up). Installs wrk
# (Debian) if missing and CHP 5.3.0 into $BENCH_CACHE.
#   BENCH_MODE=quick (1 round of 3s: checks the harness) | medium (3 rounds of 5s) | full (5 rounds of 10s)
#   BENCH_OUT=dir for the raw results (default /tmp/hpcgate-bench/results)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/testdata/bench
STATE=${STATE:-/tmp/hpcgate-cluster}
ENVF=$STATE/cluster.env
[ -f "$ENVF" ] || { echo "no $ENVF: run make cluster-up first" >&2; exit 1; }
get() { sed -n "s/^$1=//p" "$ENVF"; }
case ${BENCH_MODE:-quick} in
  quick) ROUNDS=1; DUR=3s; WSN=500 ;;
  medium) ROUNDS=3; DUR=5s; WSN=1000 ;;
  full)  ROUNDS=5; DUR=10s; WSN=2000 ;;
  *) echo "BENCH_MODE is quick, medium or full" >&2; exit 1 ;;
esac
W=${BENCH_WORK:-/tmp/hpcgate-bench}
OUT=${BENCH_OUT:-$W/results}
CACHE=${BENCH_CACHE:-$HOME/.cache/hpcgate-bench}
PORT=${BENCH_PORT:-18000}
HUB=http://127.0.0.1:$PORT
mkdir -p "$W/bin" "$OUT" "$CACHE"; chmod 755 "$W" "$W/bin"
rm -f "$OUT"/proxy.jsonl "$OUT"/ws.jsonl

command -v wrk >/dev/null || { echo "installing wrk (Debian)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
CHP=$CACHE/chp530/node_modules/.bin/configurable-http-proxy
[ -x "$CHP" ] || { echo "installing configurable-http-proxy 5.3.0 into $CACHE"; npm install --silent --prefix "$CACHE/chp530" configurable-http-proxy@5.3.0 >/dev/null; }

(cd "$REPO" && go build -o "$W/bin/hpcgate" ./cmd/hpcgate && go build -o "$W/bin/origin" ./testdata/bench/origin \
  && go build -o "$W/bin/wsrtt" ./testdata/bench/wsrtt && go build -o "$W/bin/gofloor" ./testdata/bench/gofloor)
chmod 755 "$W/bin/"*

PIDS=()
cleanup() {
  for u in alice bob; do
    [ -n "${TOK[$u]:-}" ] && curl -s -o /dev/null -X DELETE -H "Authorization: token ${TOK[$u]}" "$HUB/hub/api/users/$u/server"
  done
  sleep 1
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
declare -A TOK
trap cleanup EXIT

cluster() {  # $1 name, $2 proxy mode
  cat <<YAML
  - name: $1
    scheduler: slurm
    proxy: $2
    login:
      host: 127.0.0.1
      port: 2222
      known_hosts: $(get SSH_KNOWN_HOSTS)
      auth: certificate
      user_ca_key: $(get SSH_USER_CA)
    poll_interval: 5s
    fast_poll_interval: 1s
    start_timeout: 2m
    app:
      command: [$W/bin/origin, "-addr={host}:{port}"]
    profiles:
      - name: small
        partition: {value: debug}
        cores: {value: 1}
        walltime: {value: 1h}
YAML
}
cat > "$W/site.yaml" <<YAML
hub:
  listen: 127.0.0.1:$PORT
  public_url: http://127.0.0.1:$PORT
  data_dir: $W/data
  log_format: text
ldap:
  url: $(get LDAP_URL)
  start_tls: true
  ca_file: $(get LDAP_CA_FILE)
  bind_dn: $(get LDAP_BIND_DN)
  bind_password_file: $(get LDAP_BIND_PASSWORD_FILE)
  user_base_dn: ou=people,dc=example,dc=org
  allowed_groups: ["cn=hpc-users,ou=groups,dc=example,dc=org"]
clusters:
$(cluster local tunnel)
$(cluster near direct)
YAML
rm -rf "$W/data"
("$W/bin/hpcgate" serve -f "$W/site.yaml" > "$W/hub.log" 2>&1) & HG=$!; PIDS+=($HG)
for _ in $(seq 100); do curl -sf -o /dev/null "$HUB/hub/health" && break; sleep 0.2; done
for u in alice bob; do TOK[$u]=$("$W/bin/hpcgate" token -f "$W/site.yaml" "$u"); done
curl -sf -o /dev/null -X POST -H "Authorization: token ${TOK[alice]}" -d '{"cluster":"local","profile":"small"}' "$HUB/hub/api/users/alice/server"
curl -sf -o /dev/null -X POST -H "Authorization: token ${TOK[bob]}" -d '{"cluster":"near","profile":"small"}' "$HUB/hub/api/users/bob/server"
for u in alice bob; do
  for _ in $(seq 300); do curl -s -H "Authorization: token ${TOK[$u]}" "$HUB/hub/api/users/$u" | grep -q '"ready":true' && break; sleep 0.2; done
done
origin() {  # "port pid" of user $1's origin
  ss -ltnpeH | grep '"origin"' | grep "uid:$(id -u "$1") " | head -1 | awk '{split($4,a,":"); print a[length(a)]}' | tr '\n' ' '
  ss -ltnpeH | grep '"origin"' | grep "uid:$(id -u "$1") " | head -1 | grep -o 'pid=[0-9]*' | cut -d= -f2
}
read -r OP OPID <<<"$(origin alice)"; read -r BP BPID <<<"$(origin bob)"
[ -n "$OP" ] && [ -n "$BP" ] || { echo "the origins did not start; hub log: $W/hub.log" >&2; exit 1; }
SSHD=$(ss -ltnpH 'sport = :2222' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)

export CONFIGPROXY_AUTH_TOKEN=bench-$$
"$CHP" --ip 127.0.0.1 --port 18100 --api-ip 127.0.0.1 --api-port 18101 --log-level warn > "$W/chp.log" 2>&1 & CHPB=$!; PIDS+=($CHPB)
"$CHP" --ip 127.0.0.1 --port 18102 --api-ip 127.0.0.1 --api-port 18103 --log-level warn > "$W/chp_sshL.log" 2>&1 & CHPC=$!; PIDS+=($CHPC)
S=$(get SSH_USER_KEYS)
ssh -p 2222 -i "$S/alice" -o UserKnownHostsFile="$(get SSH_KNOWN_HOSTS)" -o BatchMode=yes -o ExitOnForwardFailure=yes \
  -N -L "18200:127.0.0.1:$OP" alice@127.0.0.1 > "$W/ssh.log" 2>&1 & SSHT=$!; PIDS+=($SSHT)
"$W/bin/gofloor" -listen 127.0.0.1:18300 -origin "127.0.0.1:$OP" -ssh 127.0.0.1:2222 -user alice -key "$S/alice" \
  -known-hosts "$(get SSH_KNOWN_HOSTS)" > "$W/gofloor.log" 2>&1 & GFT=$!; PIDS+=($GFT)
"$W/bin/gofloor" -listen 127.0.0.1:18301 -origin "127.0.0.1:$BP" > "$W/gofloor_direct.log" 2>&1 & GFD=$!; PIDS+=($GFD)
"$W/bin/gofloor" -bytes -listen 127.0.0.1:18302 -origin "127.0.0.1:$OP" -ssh 127.0.0.1:2222 -user alice -key "$S/alice" \
  -known-hosts "$(get SSH_KNOWN_HOSTS)" > "$W/gofloor_bytes.log" 2>&1 & GBT=$!; PIDS+=($GBT)
"$W/bin/gofloor" -bytes -listen 127.0.0.1:18303 -origin "127.0.0.1:$BP" > "$W/gofloor_bytes_direct.log" 2>&1 & GBD=$!; PIDS+=($GBD)
sleep 2
route() { curl -sf -o /dev/null -X POST -H "Authorization: token $CONFIGPROXY_AUTH_TOKEN" -d "{\"target\":\"$2\"}" "http://127.0.0.1:$1/api/routes/user/alice"; }
route 18101 "http://127.0.0.1:$OP"; route 18103 "http://127.0.0.1:18200"

P=/user/alice
A="Authorization: token ${TOK[alice]}"; B="Authorization: token ${TOK[bob]}"
T=("direct=http://127.0.0.1:$OP$P" "chp=http://127.0.0.1:18100$P" "chp_sshL=http://127.0.0.1:18102$P"
   "sshL=http://127.0.0.1:18200$P" "hpcgate=$HUB$P|$A" "hpcgate_direct=$HUB/user/bob|$B"
   "gofloor=http://127.0.0.1:18300$P" "gofloor_direct=http://127.0.0.1:18301/user/bob")
BYTES=("gofloor_bytes=http://127.0.0.1:18302$P" "gofloor_bytes_direct=http://127.0.0.1:18303/user/bob")
for t in "${T[@]}" "${BYTES[@]}"; do
  u=${t#*=}; h=""; [[ $u == *"|"* ]] && h=${u#*|}; u=${u%%|*}
  code=$(curl -s -o /dev/null -w '%{http_code}' ${h:+-H "$h"} "$u/api")
  [ "$code" = 200 ] || { echo "check ${t%%=*}: $u/api answered $code" >&2; exit 1; }
done
with() {  # the targets with $1 appended to each URL
  for t in "${T[@]}"; do
    local l=${t%%=*} r=${t#*=} h=""; local u=${r%%|*}
    [[ $r == *"|"* ]] && h="|${r#*|}"
    echo "$l=$u$1$h"
  done
}
mapfile -t SMALL < <(with /api)
for t in "${BYTES[@]}"; do SMALL+=("$t/api"); done
mapfile -t STATIC < <(with /static/x.js); mapfile -t BIG < <(with /big/x.js)
WATCH=(--watch hpcgate=$HG --watch chp=$CHPB --watch chp_sshL=$CHPC --watch ssh=$SSHT --watch origin=$OPID --watch origin_bob=$BPID --watch gofloor=$GFT --watch gofloor_direct=$GFD --watch gofloor_bytes=$GBT --watch gofloor_bytes_direct=$GBD --sshd "$SSHD")
B3=("$HERE/bench.py" run --out "$OUT/proxy.jsonl" --rounds "$ROUNDS" "${WATCH[@]}")
echo "== small JSON, 32 connections"; "${B3[@]}" --scenario small_c32 --wrk "-t2 -c32 -d$DUR" "${SMALL[@]}"
echo "== small JSON, 1 connection"; "${B3[@]}" --scenario small_c1 --wrk "-t1 -c1 -d$DUR" "${SMALL[@]}"
echo "== 89 KB, 32 connections"; "${B3[@]}" --scenario static_c32 --bytes 89037 --wrk "-t2 -c32 -d$DUR" "${STATIC[@]}"
echo "== 2.8 MB, 8 connections"; "${B3[@]}" --scenario big_c8 --bytes 2839377 --wrk "-t2 -c8 -d$DUR" "${BIG[@]}"
echo "== WebSocket round trips"
mapfile -t WS < <(with /ws | sed 's#=http://#=ws://#')
"$HERE/bench.py" ws --out "$OUT/ws.jsonl" --wsrtt "$W/bin/wsrtt" --rounds "$ROUNDS" --n "$WSN" "${WS[@]}"
rss() { awk '/VmRSS/{printf "%.0f", $2/1024}' "/proc/$1/status"; }
echo "hpcgate RSS $(rss $HG) MB, CHP $(rss $CHPB) MB after the run" | tee "$OUT/proxy_rss.txt"
MT=$("$W/bin/hpcgate" token -f "$W/site.yaml" -scopes read:metrics alice)
curl -s -H "Authorization: token $MT" "$HUB/hub/metrics" | grep -E '^hpcgate_(proxy|ssh_tunnels)' > "$OUT/hub_metrics.txt" || true
