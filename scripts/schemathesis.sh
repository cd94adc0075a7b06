#!/usr/bin/env bash
# Schemathesis against /openapi.json of a freshly started `twofold serve` (SQLite, temp
# data dir): every operation is fuzzed, stamped as the root user (scripts/schemathesis/hooks.py),
# and any 5xx fails the run. Slow, so not part of scripts/test.sh. Usage:
#   scripts/schemathesis.sh [--unstamped] [extra schemathesis flags, e.g. -n 200 --seed 1]
# Needs Python 3 with pip; installs schemathesis (pinned) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

stamped=1
if [ "${1:-}" = "--unstamped" ]; then stamped=0; shift; fi

python3 -c 'import schemathesis' 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check schemathesis==4.32.5
cargo build --quiet -p twofold --locked
bin="${CARGO_TARGET_DIR:-target}/debug/twofold"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Lockout-prone settings are kept out of reach: the fuzzer may not lock itself out by IP
# rules or MFA enforcement, which would turn every later call into a 403.
"$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" --log warn >"$work/stdout" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q '^twofold listening on ' "$work/stdout" 2>/dev/null && break
  sleep 0.1
done
url="$(sed -n 's/^twofold listening on //p' "$work/stdout")"
[ -n "$url" ] || { echo "twofold did not start:"; cat "$work/server.log"; exit 1; }
echo "twofold at $url (log: $work/server.log)"

if [ "$stamped" = 1 ]; then export TWOFOLD_KEY_FILE="$work/data/root-api-key.json"; fi
export PYTHONPATH="$PWD/scripts/schemathesis${PYTHONPATH:+:$PYTHONPATH}"
export SCHEMATHESIS_HOOKS=hooks
# The operations that can lock the fuzzer out (IP lists, MFA enforcement, the root quorum,
# deleting users or keys) run last, in a pass of their own, so they cannot hide the rest.
lockouts=(submit_set_ip_allowlist submit_set_ip_denylist submit_set_mfa_enforcement
          submit_update_root_quorum submit_delete_users submit_delete_api_keys)
status=0
schemathesis run "$url/openapi.json" --checks not_a_server_error --request-timeout 30 \
  $(printf -- '--exclude-operation-id %s ' "${lockouts[@]}") "$@" || status=$?
schemathesis run "$url/openapi.json" --checks not_a_server_error --request-timeout 30 \
  $(printf -- '--include-operation-id %s ' "${lockouts[@]}") "$@" || status=$?
if grep -q '"level":"ERROR"\|ERROR' "$work/server.log"; then
  echo "server logged errors:"; grep 'ERROR' "$work/server.log" | head -20
fi
exit "$status"
