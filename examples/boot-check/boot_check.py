# The partner docs' boot check (seeds/000), unchanged but for the base URL.
import os, sys, requests

BASE = os.environ.get("GATEHOUSE_URL", "http://127.0.0.1:8787")

def assert_key_healthy() -> dict:
    res = requests.get(
        f"{BASE}/v1/whoami",
        headers={"X-Api-Key": os.environ["LAYERS_API_KEY"]},
        timeout=10,
    )
    res.raise_for_status()
    me = res.json()

    if me.get("killSwitch") or me.get("apiAccessRevoked"):
        raise RuntimeError(
            f"api access blocked: killSwitch={me.get('killSwitch')} "
            f"apiAccessRevoked={me.get('apiAccessRevoked')}"
        )

    print(
        f"key healthy — org={me['organizationId']} "
        f"name={me['organizationName']} tier={me['rateLimitTier']}"
    )
    return me

if __name__ == "__main__":
    try:
        assert_key_healthy()
    except Exception as e:
        print(e, file=sys.stderr)
        sys.exit(1)
