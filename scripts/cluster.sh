#!/usr/bin/env bash
# Two Gatehouse instances on one PostgreSQL and one Redis, for trying cluster mode locally (docs/cluster.md).
#
#   scripts/cluster.sh          start both (ports 8787 and 8788) and keep them running until Ctrl-C
#   scripts/cluster.sh --demo   start both, show a kill switch flipped on one in force on the other, then stop
#
# DATABASE_URL and REDIS_URL default to a local PostgreSQL and Redis; the database is created when missing.
# GATEHOUSE_ADMIN_TOKEN is generated on the first run when unset (every instance of a cluster must share one) and kept
# in $LOG_DIR/admin-token (mode 0600), where the CLI finds it with GATEHOUSE_DATA_DIR=$LOG_DIR.
# GATEHOUSE_SECRET (the deployment secret, SPEC 11) is required with DATABASE_URL and must be shared too: when unset,
# one is generated on the first run and kept in $LOG_DIR/secret (mode 0600), so keys issued in one run keep being
# verified by their digests in the next. It never goes into the database.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/gatehouse_cluster}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export LOG_LEVEL="${LOG_LEVEL:-warn}"
PORTS=(8787 8788)
LOG_DIR="${GATEHOUSE_CLUSTER_LOGS:-.gatehouse/cluster}"
mkdir -p "$LOG_DIR"
if [[ -z "${GATEHOUSE_ADMIN_TOKEN:-}" ]]; then
  if [[ ! -s "$LOG_DIR/admin-token" ]]; then
    (umask 077 && node -e "process.stdout.write('gha_' + require('crypto').randomBytes(32).toString('base64url'))" >"$LOG_DIR/admin-token")
  fi
  GATEHOUSE_ADMIN_TOKEN="$(cat "$LOG_DIR/admin-token")"
fi
export GATEHOUSE_ADMIN_TOKEN
if [[ -z "${GATEHOUSE_SECRET:-}" ]]; then
  if [[ ! -s "$LOG_DIR/secret" ]]; then
    (umask 077 && node -e "process.stdout.write(require('crypto').randomBytes(32).toString('base64url'))" >"$LOG_DIR/secret")
  fi
  GATEHOUSE_SECRET="$(cat "$LOG_DIR/secret")"
fi
export GATEHOUSE_SECRET

# The database, if it does not exist yet (connecting to the server's `postgres` database to create it).
node --input-type=module -e '
import pg from "pg";
const url = new URL(process.env.DATABASE_URL);
const name = decodeURIComponent(url.pathname.slice(1));
url.pathname = "/postgres";
const client = new pg.Client({ connectionString: url.toString() });
await client.connect();
const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
if (found.rowCount === 0) await client.query(`CREATE DATABASE "${name.replaceAll("\"", "\"\"")}"`);
await client.end();
'

PIDS=()
stop() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop EXIT
trap 'exit 130' INT TERM

wait_ready() {
  for _ in $(seq 1 150); do
    if curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "instance on port $1 did not become ready; see $LOG_DIR/instance-$1.log" >&2
  return 1
}

# One after the other: the first applies migrations (and compiles the server, as `npm start` does, if a source
# changed since the last build), the second finds them done.
for port in "${PORTS[@]}"; do
  PORT="$port" node --max-semi-space-size=64 packages/server/bin/start.js >"$LOG_DIR/instance-$port.log" 2>&1 &
  PIDS+=("$!")
  wait_ready "$port"
done

cat <<EOF
Two Gatehouse instances share one store and one invalidation channel:
  http://127.0.0.1:${PORTS[0]}   http://127.0.0.1:${PORTS[1]}
  DATABASE_URL=$DATABASE_URL
  REDIS_URL=$REDIS_URL
  admin token: kept in $LOG_DIR/admin-token; the CLI finds it with
    GATEHOUSE_DATA_DIR=$LOG_DIR npx gatehouse kill-switch get
  deployment secret: ${GATEHOUSE_SECRET:0:4}… (GATEHOUSE_SECRET; kept in $LOG_DIR/secret unless you set it)
  logs: $LOG_DIR/instance-<port>.log
EOF

if [[ "${1:-}" == "--demo" ]]; then
  node --input-type=module -e '
const [a, b] = ["http://127.0.0.1:8787", "http://127.0.0.1:8788"];
const admin = { "x-admin-token": process.env.GATEHOUSE_ADMIN_TOKEN, "content-type": "application/json" };
const post = async (url, body) => (await fetch(url, { method: "POST", headers: admin, body: JSON.stringify(body ?? {}) })).json();
const org = await post(`${a}/admin/v1/organizations`, { name: "Cluster demo", plan: "partner" });
const key = await post(`${a}/admin/v1/organizations/${org.id}/keys`, { name: "demo" });
const whoami = async () => (await (await fetch(`${b}/v1/whoami`, { headers: { "x-api-key": key.key } })).json()).killSwitch;
console.log(`\nkey ${key.displayPrefix}: killSwitch on :8788 = ${await whoami()} (now cached there)`);
const started = performance.now();
await post(`${a}/admin/v1/keys/${key.id}/kill`);
while (!(await whoami())) await new Promise((resolve) => setTimeout(resolve, 5));
console.log(`killed through :8787; in force on :8788 after ${Math.round(performance.now() - started)} ms`);
'
  exit 0
fi

echo "Ctrl-C stops both."
wait
