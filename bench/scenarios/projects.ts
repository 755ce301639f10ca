import autocannon from 'autocannon';
import type { IncomingHttpHeaders } from 'node:http';
import { randomUUID } from 'node:crypto';

/**
 * POST /v1/projects under load (SPEC 6 and 8.1): throughput with a fresh Idempotency-Key per request, then the
 * same keys sent twice, to compare a replay's p99 with the first request's p99 on identical requests.
 *
 * Self-contained: it needs only a running server and a partner key whose organization's write-light limit is
 * high enough not to answer 429 (GATEHOUSE_RATE_LIMITS), e.g. `{"partner":{"write-light":1000000}}`.
 */
export interface ProjectsScenarioOptions {
  baseUrl: string;
  apiKey: string;
  /** Length of the throughput phase. */
  durationSeconds?: number;
  connections?: number;
  /** Requests in the first-request phase; the replay phase sends the same keys again. */
  sampleRequests?: number;
}

export interface LoadFigures {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers that were not 2xx, and socket errors or timeouts: both should be 0. */
  non2xx: number;
  errors: number;
}

export interface ProjectsScenarioResult {
  scenario: 'projects';
  connections: number;
  /** POST /v1/projects without an Idempotency-Key: the baseline the idempotency cost is read against. */
  createWithoutKey: LoadFigures;
  /** POST /v1/projects, every request a new project under a new Idempotency-Key. */
  create: LoadFigures;
  /** The sample's first sending: each request runs. */
  firstRequest: LoadFigures & { ran: number };
  /** The sample's second sending: each request should be answered from the stored entry. */
  replay: LoadFigures & { replayed: number };
  replayP99OverFirstP99: number;
}

const BODY = JSON.stringify({ name: 'bench project', timezone: 'Europe/Paris', primaryLanguage: 'en' });

type Request = autocannon.Request;
type Context = { idempotencyKey?: string };

function figures(result: autocannon.Result): LoadFigures {
  return {
    requests: result.requests.total,
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** A request whose Idempotency-Key comes from `nextKey`, reporting each answer to `onAnswer`. */
function keyed(nextKey: () => string, onAnswer?: (status: number, key: string, replayed: boolean) => void): Request {
  return {
    setupRequest: (request: Request, context: Context) => {
      const key = nextKey();
      context.idempotencyKey = key;
      return { ...request, headers: { ...request.headers, 'idempotency-key': key } };
    },
    onResponse: (status: number, _body: string, context: Context, headers?: IncomingHttpHeaders) => {
      if (context.idempotencyKey) onAnswer?.(status, context.idempotencyKey, headers?.['idempotent-replayed'] === 'true');
    },
  };
}

/** One autocannon run of POST /v1/projects. */
function post(options: Required<ProjectsScenarioOptions>, limit: { duration: number } | { amount: number }, request: Request = {}) {
  return autocannon({
    url: `${options.baseUrl.replace(/\/$/, '')}/v1/projects`,
    method: 'POST',
    connections: options.connections,
    ...limit,
    headers: { 'content-type': 'application/json', 'x-api-key': options.apiKey },
    body: BODY,
    requests: [request],
  });
}

export async function runProjectsScenario(input: ProjectsScenarioOptions): Promise<ProjectsScenarioResult> {
  const options: Required<ProjectsScenarioOptions> = { durationSeconds: 10, connections: 10, sampleRequests: 2000, ...input };

  const duration = { duration: options.durationSeconds };
  const createWithoutKey = await post(options, duration);
  const create = await post(options, duration, keyed(() => randomUUID()));

  // First sending: the keys whose request ran (201, not a replay) are the ones the replay phase sends again.
  const sample = Array.from({ length: options.sampleRequests }, () => randomUUID());
  let next = 0;
  const ran: string[] = [];
  const first = await post(
    options,
    { amount: options.sampleRequests },
    keyed(
      () => sample[next++ % sample.length]!,
      (status, key, replayed) => {
        if (status === 201 && !replayed) ran.push(key);
      },
    ),
  );

  if (ran.length === 0) throw new Error(`no first request ran (non-2xx: ${first.non2xx}, errors: ${first.errors}); is the key valid and the limit high enough?`);
  let replayNext = 0;
  let replayed = 0;
  const replay = await post(
    options,
    { amount: ran.length },
    keyed(
      () => ran[replayNext++ % ran.length]!,
      (_status, _key, wasReplay) => {
        if (wasReplay) replayed++;
      },
    ),
  );

  const firstFigures = figures(first);
  const replayFigures = figures(replay);
  return {
    scenario: 'projects',
    connections: options.connections,
    createWithoutKey: figures(createWithoutKey),
    create: figures(create),
    firstRequest: { ...firstFigures, ran: ran.length },
    replay: { ...replayFigures, replayed },
    replayP99OverFirstP99: Math.round((replayFigures.p99Ms / Math.max(firstFigures.p99Ms, 1e-9)) * 100) / 100,
  };
}

// `GATEHOUSE_BENCH_URL=http://127.0.0.1:8787 GATEHOUSE_BENCH_KEY=lp_test_… node --import tsx bench/scenarios/projects.ts`
if (import.meta.url === `file://${process.argv[1]}`) {
  const baseUrl = process.env.GATEHOUSE_BENCH_URL;
  const apiKey = process.env.GATEHOUSE_BENCH_KEY;
  if (!baseUrl || !apiKey) {
    console.error('set GATEHOUSE_BENCH_URL and GATEHOUSE_BENCH_KEY');
    process.exit(2);
  }
  const durationSeconds = Number(process.env.GATEHOUSE_BENCH_SECONDS ?? 10);
  console.log(JSON.stringify(await runProjectsScenario({ baseUrl, apiKey, durationSeconds }), null, 2));
}
