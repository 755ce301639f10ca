import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { createOrganization, issueKey, withKey, type KeyFixture } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

/**
 * SPEC 12, as a property: whatever a live key and a test key of one organization do, in any order (creates, lists,
 * reads, cancels), neither ever sees or reaches a row of the other's env. Each run starts a fresh organization and
 * keeps a model of who made what; every answer is held against it.
 */

type Env = 'live' | 'test';
type Command =
  | { op: 'createProject'; by: Env }
  | { op: 'listProjects'; by: Env }
  | { op: 'readProject'; by: Env; pick: number }
  | { op: 'ingest'; by: Env; pick: number }
  | { op: 'readJob'; by: Env; pick: number }
  | { op: 'cancelJob'; by: Env; pick: number }
  | { op: 'createEndpoint'; by: Env }
  | { op: 'listEndpoints'; by: Env }
  | { op: 'readEndpoint'; by: Env; pick: number };

const env = fc.constantFrom<Env>('live', 'test');
const pick = fc.nat({ max: 50 });
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constant('createProject' as const), by: env }),
  fc.record({ op: fc.constant('listProjects' as const), by: env }),
  fc.record({ op: fc.constant('readProject' as const), by: env, pick }),
  fc.record({ op: fc.constant('ingest' as const), by: env, pick }),
  fc.record({ op: fc.constant('readJob' as const), by: env, pick }),
  fc.record({ op: fc.constant('cancelJob' as const), by: env, pick }),
  fc.record({ op: fc.constant('createEndpoint' as const), by: env }),
  fc.record({ op: fc.constant('listEndpoints' as const), by: env }),
  fc.record({ op: fc.constant('readEndpoint' as const), by: env, pick }),
);

let t: TestApp;
let organization = 0;

beforeAll(async () => {
  // Jobs stay queued (no runner): the property is about who sees what, and a queued job's cancel is always 200.
  t = await startTestApp({ config: { jobs: { concurrency: 0 } } });
});
afterAll(async () => t?.close());

interface Made {
  id: string;
  env: Env;
}

async function runCommands(commands: Command[]): Promise<void> {
  const { id: organizationId } = await createOrganization(t.app, { name: `isolation ${++organization}` });
  const keys: Record<Env, KeyFixture> = {
    live: await issueKey(t.app, organizationId, { name: 'live' }),
    test: await issueKey(t.app, organizationId, { name: 'test', env: 'test' }),
  };
  const projects: Made[] = [];
  const jobs: Made[] = [];
  const endpoints: Made[] = [];
  const call = (by: Env, method: 'GET' | 'POST', url: string, payload?: object) =>
    t.app.inject({ method, url, headers: withKey(keys[by].key), ...(payload === undefined ? {} : { payload }) });
  const chosen = (rows: Made[], index: number) => rows[index % rows.length];
  const ownIds = (rows: Made[], by: Env) => rows.filter((row) => row.env === by).map((row) => row.id).sort();
  /** Another env's row answers exactly as a missing one: 404 NOT_FOUND. */
  const expectHidden = (response: { statusCode: number; json: () => { error: { code: string } } }) => {
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('NOT_FOUND');
  };

  for (const step of commands) {
    switch (step.op) {
      case 'createProject': {
        const response = await call(step.by, 'POST', '/v1/projects', { name: 'isolated' });
        expect(response.statusCode).toBe(201);
        expect(response.json().env).toBe(step.by);
        projects.push({ id: response.json().id, env: step.by });
        break;
      }
      case 'listProjects': {
        const response = await call(step.by, 'GET', '/v1/projects?limit=100');
        expect(response.statusCode).toBe(200);
        const data = response.json().data as Array<{ id: string; env: string }>;
        expect(data.every((row) => row.env === step.by)).toBe(true);
        expect(data.map((row) => row.id).sort()).toEqual(ownIds(projects, step.by));
        break;
      }
      case 'readProject': {
        const project = chosen(projects, step.pick);
        if (!project) break;
        const response = await call(step.by, 'GET', `/v1/projects/${project.id}`);
        if (project.env === step.by) expect(response.json().id).toBe(project.id);
        else expectHidden(response);
        break;
      }
      case 'ingest': {
        const project = chosen(projects, step.pick);
        if (!project) break;
        const response = await call(step.by, 'POST', `/v1/projects/${project.id}/ingest/github`, { repo: 'acme/widget' });
        if (project.env !== step.by) {
          expectHidden(response);
          break;
        }
        expect(response.statusCode).toBe(202);
        jobs.push({ id: response.json().jobId, env: step.by });
        break;
      }
      case 'readJob': {
        const job = chosen(jobs, step.pick);
        if (!job) break;
        const response = await call(step.by, 'GET', `/v1/jobs/${job.id}`);
        if (job.env === step.by) expect(response.json()).toMatchObject({ id: job.id, env: step.by });
        else expectHidden(response);
        break;
      }
      case 'cancelJob': {
        const job = chosen(jobs, step.pick);
        if (!job) break;
        const response = await call(step.by, 'POST', `/v1/jobs/${job.id}/cancel`);
        // Own job: canceled now (200), or already canceled by an earlier step (409).
        if (job.env === step.by) expect([200, 409]).toContain(response.statusCode);
        else expectHidden(response);
        break;
      }
      case 'createEndpoint': {
        const response = await call(step.by, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/isolation', events: ['job.canceled'] });
        expect(response.statusCode).toBe(201);
        endpoints.push({ id: response.json().id, env: step.by });
        break;
      }
      case 'listEndpoints': {
        const data = (await call(step.by, 'GET', '/v1/webhook-endpoints?limit=100')).json().data as Array<{ id: string; env: string }>;
        expect(data.every((row) => row.env === step.by)).toBe(true);
        expect(data.map((row) => row.id).sort()).toEqual(ownIds(endpoints, step.by));
        break;
      }
      case 'readEndpoint': {
        const endpoint = chosen(endpoints, step.pick);
        if (!endpoint) break;
        const response = await call(step.by, 'GET', `/v1/webhook-endpoints/${endpoint.id}`);
        if (endpoint.env === step.by) expect(response.json().id).toBe(endpoint.id);
        else expectHidden(response);
        break;
      }
    }
  }

  // The store agrees with the model: every row carries the env of the key that made it.
  const stored = async (table: 'projects' | 'jobs' | 'webhook_endpoints', rows: Made[]) => {
    if (rows.length === 0) return;
    const found = await t.deps.store.db.selectFrom(table).select(['id', 'env']).where('organization_id', '=', organizationId).execute();
    expect(Object.fromEntries(found.map((row) => [row.id, row.env]))).toEqual(Object.fromEntries(rows.map((row) => [row.id, row.env])));
  };
  await stored('projects', projects);
  await stored('jobs', jobs);
  await stored('webhook_endpoints', endpoints);
}

describe('a live key and a test key of one organization', () => {
  test.prop([fc.array(command, { minLength: 1, maxLength: 30 })], { numRuns: 25 })(
    'never see or reach each other’s rows, whatever they do in whatever order',
    async (commands) => runCommands(commands),
    120_000,
  );
});
