#!/usr/bin/env bash
# list_suborgs with filters over many sub-organizations on PostgreSQL (issue 19): seeds N
# sub-organizations (default 1 000 000) under the root organization, each with one user
# (name, email, phone), one API key and one passkey, straight into a fresh database, then
# times `getSubOrgIds` (@turnkey/http) for every filter type, one client, REQUESTS each.
#
#   scripts/bench-suborgs.sh              # 1 000 000 sub-organizations, 200 requests per filter
#   N=100000 REQUESTS=100 scripts/bench-suborgs.sh
#
# Not a test: the figures go to docs/PERFORMANCE.md by hand, with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}; REQUESTS=${REQUESTS:-200}; PORT=${PORT:-18191}
cargo build --release --locked -q -p twofold
BIN=$PWD/target/release/twofold
DBNAME=twofold_bench_suborgs_$$
WORK=$(mktemp -d)
cleanup() { kill "${PID:-0}" 2>/dev/null || true; psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DBNAME" >/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $DBNAME" >/dev/null
URL=postgres://postgres@127.0.0.1:5432/$DBNAME
"$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$WORK/data" --database-url "$URL" --log warn > "$WORK/serve.log" 2>&1 &
PID=$!
until curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz"; do sleep 0.1; done
ROOT=$(psql -At -h 127.0.0.1 -U postgres "$DBNAME" -c "SELECT root_organization_id FROM installation")
start=$(date +%s)
psql -q -h 127.0.0.1 -U postgres "$DBNAME" <<SQL
INSERT INTO organizations (id, name, parent_id, root_quorum_threshold, created_at, updated_at)
  SELECT 'bench-org-' || g, 'bench org ' || g, '$ROOT', 1, g, g FROM generate_series(1, $N) g;
INSERT INTO users (id, organization_id, name, email, phone, created_at, updated_at)
  SELECT 'bench-user-' || g, 'bench-org-' || g, 'user ' || g, 'User' || g || '@Example.com',
         '+1' || lpad(g::text, 10, '0'), g, g FROM generate_series(1, $N) g;
INSERT INTO api_keys (id, organization_id, user_id, name, public_key, verify_key, curve, created_at, updated_at, kind)
  SELECT 'bench-key-' || g, 'bench-org-' || g, 'bench-user-' || g, 'key', '02' || lpad(to_hex(g), 64, '0'),
         '00', 'API_KEY_CURVE_P256', g, g, 'API_KEY' FROM generate_series(1, $N) g;
INSERT INTO factors (id, organization_id, user_id, kind, name, lookup, public_data, counter, active, created_at, updated_at)
  SELECT 'bench-factor-' || g, 'bench-org-' || g, 'bench-user-' || g, 'PASSKEY', 'key', 'credential-' || g, '{}',
         0, 1, g, g FROM generate_series(1, $N) g;
ANALYZE;
SQL
echo "seeded $N sub-organizations in $(( $(date +%s) - start )) s"
G=$(( N * 7 / 9 ))
FILTERS="[[\"NAME\",\"bench org $G\"],[\"USERNAME\",\"user $G\"],[\"EMAIL\",\"user$G@example.com\"],\
[\"PHONE_NUMBER\",\"+1$(printf %010d $G)\"],[\"CREDENTIAL_ID\",\"credential-$G\"],\
[\"PUBLIC_KEY\",\"02$(printf %064x $G)\"]]"
node tests/interop/bench-suborgs.mjs "http://127.0.0.1:$PORT" "$WORK/data/root-api-key.json" "$REQUESTS" "$FILTERS"
