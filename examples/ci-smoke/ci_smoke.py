# The "Minimum-viable CI smoke test" from the partner docs (shared/seeds/003), Python, unchanged but for the base URL.
# packages/server/test/ci-smoke.test.ts runs it against `npm start` with its test key (SPEC 12: no outbound call, no
# credits spent).
import os, sys, time, uuid, requests
BASE = os.environ.get("GATEHOUSE_BASE_URL", "http://127.0.0.1:8787")
KEY = os.environ["LAYERS_API_KEY"] # lp_test_... in CI
def H(**extra):
    return {"X-Api-Key": KEY, "Content-Type": "application/json", **extra}
def smoke():
    # 1. whoami
    r = requests.get(f"{BASE}/v1/whoami", headers=H())
    assert r.status_code == 200, f"whoami {r.status_code}"
    # 2. throwaway project — customerExternalId keeps it stable per CI run
    run_id = os.environ.get("GITHUB_RUN_ID", str(int(time.time())))
    proj = requests.post(
        f"{BASE}/v1/projects",
        headers=H(**{"Idempotency-Key": str(uuid.uuid4())}),
        json={
            "name": "ci-smoke",
            "customerExternalId": f"ci-{run_id}",
            "timezone": "UTC",
            "primaryLanguage": "en",
        },
    ).json()
    # 3. kick off a long-running job; assert 202, don't wait
    ingest = requests.post(
        f"{BASE}/v1/projects/{proj['id']}/ingest/appstore",
        headers=H(**{"Idempotency-Key": str(uuid.uuid4())}),
        json={"iosBundleId": "com.example.doesnotexist"},
    )
    assert ingest.status_code == 202, f"ingest {ingest.status_code}"
    job_id = ingest.json()["jobId"]
    # 4. cancel immediately
    cancel = requests.post(
        f"{BASE}/v1/jobs/{job_id}/cancel",
        headers=H(**{"Idempotency-Key": str(uuid.uuid4())}),
    )
    assert cancel.status_code in (200, 202, 409), f"cancel {cancel.status_code}"
    print("smoke ok", {"projectId": proj["id"], "jobId": job_id})
if __name__ == "__main__":
    try:
        smoke()
    except AssertionError as e:
        print(e, file=sys.stderr)
        sys.exit(1)
