#!/usr/bin/env bash
# The partner docs' boot check, with the base URL pointed at a Gatehouse deployment.
# Needs curl and jq (Debian: apt-get install -y curl jq), and the key in LAYERS_API_KEY:
#   LAYERS_API_KEY=lp_test_... GATEHOUSE_URL=http://127.0.0.1:8787 examples/boot-check/boot-check.sh
set -euo pipefail

BASE="${GATEHOUSE_URL:-http://127.0.0.1:8787}"
if [ -z "${LAYERS_API_KEY:-}" ]; then
  echo "set LAYERS_API_KEY to the partner key to check (npm start prints a development key)" >&2
  exit 2
fi
command -v jq >/dev/null || { echo "boot-check.sh needs jq (Debian: apt-get install -y jq)" >&2; exit 2; }

response=$(curl -sS -w "\n%{http_code}" \
  "$BASE/v1/whoami" \
  -H "X-Api-Key: $LAYERS_API_KEY")

body=$(echo "$response" | sed '$d')
status=$(echo "$response" | tail -n1)

if [ "$status" != "200" ]; then
  echo "whoami failed: HTTP $status"
  echo "$body"
  exit 1
fi

if echo "$body" | jq -e '.killSwitch == true or .apiAccessRevoked == true' > /dev/null; then
  echo "access revoked or kill switch engaged — refusing to start"
  exit 1
fi

echo "key healthy: $(echo "$body" | jq -r '.organizationId')"
