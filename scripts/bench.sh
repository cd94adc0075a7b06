#!/usr/bin/env bash
# Load benchmark of a real `twofold serve` over loopback (issue 10), with the peers run in
# the same session: raw P-256 verifies on the same cores (inside `twofold bench`) and,
# with PEER=1, privacyIDEA's /validate/check (../shared/bench/privacyidea/run.sh).
#
#   scripts/bench.sh                      # twofold only, SQLite, 16 clients, 10 s per scenario
#   PEER=1 scripts/bench.sh               # also privacyIDEA, same machine, same run
#   SEED="10000 1000000" scripts/bench.sh # also get_whoami / get_mfa_status after seeding N users
#   DATABASE_URL=postgres://postgres@127.0.0.1/bench_x scripts/bench.sh   # PostgreSQL instead
#   SCENARIOS=neighbour scripts/bench.sh  # only these scenarios (issue 17's noisy-tenant load check)
#
# Prints cold start, idle RSS, RSS under load and the bench table. Not a test: numbers go
# to docs/PERFORMANCE.md by hand, with the command that made them.
set -euo pipefail
cd "$(dirname "$0")/.."
CONCURRENCY=${CONCURRENCY:-16}; SECONDS_PER=${SECONDS_PER:-10}; PORT=${PORT:-18181}
cargo build --release --locked -q -p twofold
BIN=$PWD/target/release/twofold
WORK=$(mktemp -d); trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
DB=${DATABASE_URL:-sqlite://$WORK/twofold.db}
export TWOFOLD_URL=http://127.0.0.1:$PORT TWOFOLD_KEY_FILE=$WORK/data/root-api-key.json

start=$(date +%s%N)
"$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$WORK/data" --database-url "$DB" \
  --auth-failure-limit 100 --log warn > "$WORK/serve.log" 2>&1 &
PID=$!
until curl -sf -o /dev/null "$TWOFOLD_URL/healthz"; do sleep 0.002; done
echo "cold start (empty database, bootstrap included): $(( ($(date +%s%N) - start) / 1000000 )) ms"
kill $PID; wait $PID 2>/dev/null || true
start=$(date +%s%N)
"$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$WORK/data" --database-url "$DB" \
  --auth-failure-limit 100 --log warn >> "$WORK/serve.log" 2>&1 &
PID=$!
until curl -sf -o /dev/null "$TWOFOLD_URL/readyz"; do sleep 0.002; done
echo "cold start (existing database, until /readyz): $(( ($(date +%s%N) - start) / 1000000 )) ms"
sleep 1
rss() { awk '/VmRSS/{print int($2/1024)}' /proc/$PID/status; }
echo "idle RSS: $(rss) MiB"

peak=0
( while kill -0 $PID 2>/dev/null; do r=$(rss 2>/dev/null || true); [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r && echo $peak > "$WORK/peak"; sleep 0.5; done ) &
"$BIN" bench --concurrency "$CONCURRENCY" --seconds "$SECONDS_PER" --server-pid $PID ${SCENARIOS:+--scenarios "$SCENARIOS"}
echo "RSS under load (peak): $(cat "$WORK/peak" 2>/dev/null || echo "?") MiB"

for n in ${SEED:-}; do
  have=$("$BIN" request list_users | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["users"]))')
  [ "$n" -gt "$have" ] && "$BIN" bench seed --users $(( n - have ))
  echo "== with $n users"
  "$BIN" bench --concurrency "$CONCURRENCY" --seconds "$SECONDS_PER" --scenarios whoami,mfa-status --server-pid $PID
  echo "-- one client at a time (latency without queueing)"
  "$BIN" bench --concurrency 1 --seconds "$SECONDS_PER" --scenarios whoami,mfa-status --server-pid $PID
done

if [ "${PEER:-0}" = 1 ]; then
  echo "== privacyIDEA peer (same machine, same session)"
  DUR=${SECONDS_PER}s CONNS=$CONCURRENCY DEVSERVER=0 bash ../shared/bench/privacyidea/run.sh 2>&1 \
    | grep -E '^==|Requests/sec|50%|99%|ACCEPTED|max RSS'
fi
