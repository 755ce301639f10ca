import type autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadArm, type CpuProbe } from '../lib/load.ts';
import { startScriptNodeFlags } from '../lib/node-flags.ts';
import { armRows, ratioRow, type Scenario } from '../lib/scenario.ts';

const FLOOR_ENTRY = fileURLToPath(new URL('../write-floor.ts', import.meta.url));
/** Linux's clock ticks per second for /proc/<pid>/stat (the floor has no /metrics to read its CPU from). */
const CLOCK_TICKS = 100;

function procCpuSeconds(pid: number): CpuProbe {
  return async () => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the command name.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  };
}

/**
 * POST /v1/projects on PostgreSQL, each request with a new Idempotency-Key: one unit of work (claim, project, audit
 * entry and kept answer in one transaction), against bare Fastify + `pg` doing those four statements in one
 * transaction on the same database with the same pool size (bench/write-floor.ts), interleaved in the same run.
 */
export const scenario: Scenario = {
  name: 'unit-of-work',
  order: 8,
  title: 'Scenario 8: POST /v1/projects on PostgreSQL, one unit of work against bare Fastify + pg',
  async run(ctx) {
    const database = await ctx.createDatabase();
    const server = await ctx.startServer({ label: 'postgres', env: { DATABASE_URL: database.url }, options: { keys: ['writer'] } });
    const key = server.keys.writer!.key;
    const whoami = (await (await fetch(`${server.baseUrl}/v1/whoami`, { headers: { 'x-api-key': key } })).json()) as { organizationId: string; apiKeyId: string };

    const floor = spawn(process.execPath, [...startScriptNodeFlags(), '--import', 'tsx', FLOOR_ENTRY], {
      env: { ...process.env, DATABASE_URL: database.url, ORGANIZATION_ID: whoami.organizationId, API_KEY_ID: whoami.apiKeyId },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const floorUrl = await new Promise<string>((resolve, reject) => {
        let out = '';
        floor.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /listening (\S+)/.exec(out);
          if (match) resolve(match[1]!);
        });
        floor.once('exit', (code) => reject(new Error(`the floor server exited with ${code}`)));
      });
      const runId = randomBytes(4).toString('hex');
      const body = JSON.stringify({ name: 'Bench project', timezone: 'Europe/Berlin', primaryLanguage: 'en' });
      const headers = { 'content-type': 'application/json' };
      let n = 0;
      const fresh = (request: autocannon.Request): autocannon.Request => ({ ...request, headers: { ...request.headers, 'idempotency-key': `uow-${runId}-${n++}` } });
      const { connections } = ctx;
      const arms = await ctx.interleave([
        loadArm('floor', { url: `${floorUrl}/v1/projects`, method: 'POST', headers, body, connections, setupRequest: fresh }, procCpuSeconds(floor.pid!)),
        loadArm('gatehouse', { url: `${server.baseUrl}/v1/projects`, method: 'POST', headers: { ...headers, 'x-api-key': key }, body, connections, setupRequest: fresh }, server.cpuSeconds),
      ]);
      const floorArm = { label: 'bare Fastify + pg (4 statements, 1 transaction)', ...arms.floor! };
      const gatehouse = { label: 'POST /v1/projects (unit of work)', ...arms.gatehouse! };
      const ratio = gatehouse.rps / floorArm.rps;
      const perRun = gatehouse.runs.map((run, index) => run.rps / arms.floor!.runs[index]!.rps);
      const statuses = (name: string) => JSON.stringify(arms[name]!.runs.map((run) => run.statusCounts));
      return {
        rows: [
          ...armRows(floorArm.label, floorArm),
          ...armRows(gatehouse.label, gatehouse, floorArm),
          ratioRow('ratio per interleaved round', Math.round(ratio * 1000) / 1000, '×', { figure: 'floor', value: 1 }, perRun.map((value) => Math.round(value * 1000) / 1000)),
        ],
        goals: [{ goal: 'POST /v1/projects (PostgreSQL) ≥ 0.8 × bare Fastify + pg, four statements in one transaction', actual: ratio.toFixed(3), met: ratio >= 0.8 }],
        notes: [
          'One fresh PostgreSQL database at 127.0.0.1:5432 for both; both pools hold 10 connections; Gatehouse with its in-memory rate limiter (uncapped), key verified from cache.',
          'Gatehouse per request, two round trips: [BEGIN; claim (advisory lock + kept-answer read); INSERT project] and [audit entry + kept answer (one statement); COMMIT], in the simple query protocol with values inlined (src/db/postgres-driver.ts). The floor: BEGIN, 4 statements, COMMIT, six round trips with parameters, as node-postgres sends them by default.',
          `Statuses per run: floor ${statuses('floor')}; gatehouse ${statuses('gatehouse')}.`,
        ],
        data: { arms },
      };
    } finally {
      floor.kill('SIGTERM');
    }
  },
};
