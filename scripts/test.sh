#!/usr/bin/env bash
# The whole test suite on a fresh machine of this kind (Debian + Rust toolchain +
# PostgreSQL on 127.0.0.1:5432). Installs what it needs, idempotently, then runs
# formatting, clippy (warnings are errors) and every test. Under CI=true a missing
# PostgreSQL or Node.js is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

need_apt=()
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if ((${#need_apt[@]})); then
  step "installing ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

step "PostgreSQL on 127.0.0.1:5432"
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
fi
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "PostgreSQL is up"
elif [ "${CI:-}" = "true" ]; then
  echo "CI=true and PostgreSQL is not reachable on 127.0.0.1:5432" >&2
  exit 1
else
  echo "PostgreSQL not reachable: PostgreSQL tests will be skipped (they fail under CI=true)"
fi

step "Turnkey reference clients (npm ci in tests/interop)"
npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error

step "pyotp (independent TOTP implementation) and aiosmtpd (a real SMTP sink)"
python3 -c 'import pyotp' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pyotp==2.9.0
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check aiosmtpd==1.4.6

step "openapi-spec-validator (checks /openapi.json in e2e_ops) and jsonschema (checks real answers in e2e_schemas)"
python3 -c 'import openapi_spec_validator' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator==0.9.0
python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check jsonschema==4.26.0

step "cargo fmt --check"
if rustup component list --installed 2>/dev/null | grep -q rustfmt; then
  cargo fmt --all -- --check
else
  echo "rustfmt not installed; skipping format check"
fi

step "no import cycle among the core crate's modules (scripts/module-cycles.py)"
python3 scripts/module-cycles.py --self-test
python3 scripts/module-cycles.py crates/core/src

step "answers are typed: fewer than 20 json! left in the core crate (audit details and the like)"
n=$(grep -rn 'json!' crates/core/src | grep -vc '^[^:]*:[0-9]*: *//' || true)
echo "$n json! in crates/core/src"
[ "$n" -lt 20 ]

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test --workspace"
cargo test --workspace --locked
