// The partner docs' boot check (seeds/000), unchanged but for the base URL.
const BASE = process.env.GATEHOUSE_URL ?? 'http://127.0.0.1:8787';

export async function assertKeyHealthy() {
  const res = await fetch(`${BASE}/v1/whoami`, {
    headers: { "X-Api-Key": process.env.LAYERS_API_KEY! },
  });

  if (!res.ok) {
    const body = await res.text();
    throw new Error(`whoami ${res.status}: ${body}`);
  }

  const me = await res.json();

  if (me.killSwitch || me.apiAccessRevoked) {
    throw new Error(
      `api access blocked: killSwitch=${me.killSwitch} apiAccessRevoked=${me.apiAccessRevoked}`,
    );
  }

  console.log(
    `key healthy — org=${me.organizationId} name=${me.organizationName} tier=${me.rateLimitTier}`,
  );
  return me;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  assertKeyHealthy().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
