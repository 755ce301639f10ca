#!/usr/bin/env bash
# The partner docs' boot check (seeds/000), with the base URL pointed at a Gatehouse deployment.
set -euo pipefail

BASE="${GATEHOUSE_URL:-http://127.0.0.1:8787}"

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
