import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminUsageRow, GatehouseAdmin, UsageRow } from '../src/cli/client.ts';
import { adminClient, partnerClient, partnerWithKey, rejection, startListeningApp, type ListeningApp } from './client-support.ts';

/** gh.usage, gh.requests, gh.audit, gh.explain and their admin side, over HTTP against the real server. */

const USAGE_ROW = {
  time: true,
  env: true,
  apiKeyId: true,
  endpointClass: true,
  requests: true,
  status2xx: true,
  status4xx: true,
  status5xx: true,
  rateLimited: true,
  creditsCharged: true,
} satisfies Record<keyof UsageRow, true>;
const ADMIN_USAGE_ROW = { ...USAGE_ROW, organizationId: true } satisfies Record<keyof AdminUsageRow, true>;

let t: ListeningApp;
let admin: GatehouseAdmin;
beforeAll(async () => {
  // Written when the test flushes, so the rows hold exactly the calls made before it.
  t = await startListeningApp({ deps: { usageAutoFlush: false } });
  admin = adminClient(t.baseUrl);
});
afterAll(async () => t.close());

describe('the usage, request-log, audit and explain clients', () => {
  it('read what the key did, by the request id a call answered with', async () => {
    const { organization, key } = await partnerWithKey(admin);
    const gh = partnerClient(t.baseUrl, key.key);
    await gh.whoami();
    const project = await gh.projects.create({ name: 'counted' });
    const failure = await rejection(gh.projects.get('00000000-0000-4000-8000-000000000000'));
    expect(failure.status).toBe(404);
    await t.deps.recording!.flush();

    const rows = await gh.usage.get({ granularity: 'day' });
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(Object.keys(row).sort()).toEqual(Object.keys(USAGE_ROW).sort());
    const byClass = Object.fromEntries(rows.map((row) => [row.endpointClass, row]));
    expect(byClass['read-light']).toMatchObject({ apiKeyId: key.id, requests: 2, status2xx: 1, status4xx: 1 });
    expect(byClass['write-light']).toMatchObject({ requests: 1, status2xx: 1 });

    const logged = await gh.requests.get(failure.requestId!);
    expect(logged).toMatchObject({ route: '/v1/projects/:id', status: 404, errorCode: 'NOT_FOUND', apiKeyId: key.id });
    const listed = await gh.requests.list({ limit: 2 }).toArray();
    expect(listed.map((entry) => entry.requestId)).toContain(failure.requestId);
    expect(listed.length).toBe(3);

    const audit = await gh.audit.list({ action: 'project.create' }).toArray();
    expect(audit.map((entry) => entry.targetId)).toEqual([project.id]);

    const explanation = await gh.explain({ method: 'GET', path: `/v1/projects/${project.id}` });
    expect(explanation.wouldAnswer).toEqual({ status: 200, code: null });

    const support = await admin.requests.get(failure.requestId!);
    expect(support.organizationId).toBe(organization.id);
    const adminRows = await admin.usage.get({ organizationId: organization.id, granularity: 'hour' });
    for (const row of adminRows) expect(Object.keys(row).sort()).toEqual(Object.keys(ADMIN_USAGE_ROW).sort());
    expect(adminRows.reduce((sum, row) => sum + row.requests, 0)).toBe(3);
    const byOperator = await admin.explain({ apiKeyId: key.id, method: 'DELETE', path: '/v1/nowhere' });
    expect(byOperator.wouldAnswer.status).toBe(404);

    const invalid = await rejection(gh.usage.get({ from: '2026-01-01T00:00:00Z', to: '2026-03-01T00:00:00Z' }));
    expect(invalid.code).toBe('VALIDATION_FAILED');
    expect(invalid.details).toEqual({ issues: [{ path: 'query.from', message: 'must be at most 31 days before to' }] });
  });
});
