import type { Kysely } from 'kysely';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import type { Database } from '../src/db/schema.ts';
import { UsageRecording } from '../src/usage/recording.ts';
import type { RequestLogEntry, UsageSink } from '../src/usage/sink.ts';

/** SPEC 8.7: the request log is written behind in batches; when requests fill the event loop, it drops and counts. */

const entry = (i: number): RequestLogEntry => ({
  requestId: `req_${i}`,
  at: 0,
  organizationId: null,
  apiKeyId: null,
  env: 'live',
  method: 'GET',
  route: '/v1/whoami',
  status: 200,
  errorCode: null,
  endpointClass: 'read-light',
  durationMs: 1,
  clientAddress: '127.0.0.1',
});

/** `idleMs` of the last 1,000 ms of the event loop were idle. */
function writerWith(options: { idleMs: number; capacity?: number; maxWaitMs?: number }) {
  const batches: number[] = [];
  let turnsBetweenBatches = 0;
  let turnTaken = false;
  const sink: UsageSink = {
    addUsage: async () => {},
    appendRequests: async (entries) => {
      if (batches.length > 0 && turnTaken) turnsBetweenBatches++;
      turnTaken = false;
      setImmediate(() => {
        turnTaken = true;
      });
      batches.push(entries.length);
      // An insert on the server's own thread, as the embedded store's: 4 ms of this thread per batch.
      const until = performance.now() + 4;
      while (performance.now() < until);
    },
  };
  const loop: EventLoopUtilization = { idle: options.idleMs, active: 1_000 - options.idleMs, utilization: 1 - options.idleMs / 1_000 };
  const recording = new UsageRecording({
    sink,
    db: undefined as unknown as Kysely<Database>,
    now: () => 0,
    requestLogDays: 7,
    onError: (error) => {
      throw error;
    },
    requestLogBatch: 10,
    requestLogCapacity: options.capacity ?? 1_000,
    requestLogLeastLoopShare: 0.01,
    ...(options.maxWaitMs === undefined ? {} : { requestLogMaxWaitMs: options.maxWaitMs }),
    loopUtilization: () => loop,
  });
  const append = (rows: number) => {
    for (let i = 0; i < rows; i++) recording.requestLog.append(entry(i));
  };
  return { recording, batches, append, turns: () => turnsBetweenBatches };
}

describe('request log writer', () => {
  it('writes all that waits in batches, letting the event loop run between two, while requests leave the loop idle time', async () => {
    const { recording, batches, append, turns } = writerWith({ idleMs: 500 });
    append(95);
    await recording.flushRequestLogWithinBudget();
    expect(batches).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 5]);
    expect(turns()).toBe(batches.length - 1);
    expect(recording.requestLog.written).toBe(95);
    expect(recording.requestLog.size).toBe(0);
  });

  it('when requests filled the loop, stops at its least budget; the rest waits, and past capacity is dropped and counted', async () => {
    const { recording, batches, append } = writerWith({ idleMs: 0, capacity: 200 });
    append(150);
    await recording.flushRequestLogWithinBudget();
    // 10 ms of budget (a hundredth of the 1,000 ms since the last write), 4 ms a batch: three batches (fewer if this
    // thread is held up), then requests come first.
    expect(batches.length).toBeGreaterThanOrEqual(1);
    expect(batches.length).toBeLessThanOrEqual(3);
    const written = recording.requestLog.written;
    expect(recording.requestLog.size).toBe(150 - written);
    append(150);
    expect(recording.requestLog.size).toBe(200);
    expect(recording.requestLog.dropped).toBe(150 - written + 150 - 200);
    // Every row is written, dropped and counted, or still waiting.
    expect(recording.requestLog.written + recording.requestLog.dropped + recording.requestLog.size).toBe(300);
    // A flush (tests, shutdown) writes everything, whatever the loop did.
    await recording.flushRequestLog();
    expect(recording.requestLog.size).toBe(0);
    expect(recording.requestLog.written + recording.requestLog.dropped).toBe(300);
  });

  it('on its timer, writes once a statement’s rows wait, or once the oldest may have waited its longest, not on every tick', async () => {
    const { recording, batches, append } = writerWith({ idleMs: 500, maxWaitMs: 200 });
    await recording.flushRequestLogWithinBudget();
    append(9);
    await recording.flushRequestLogWhenDue();
    // Nine rows, a batch is ten, and the last write was just now: they wait.
    expect(batches).toEqual([]);
    append(1);
    await recording.flushRequestLogWhenDue();
    expect(batches).toEqual([10]);
    append(3);
    await recording.flushRequestLogWhenDue();
    expect(batches).toEqual([10]);
    await new Promise((resolve) => setTimeout(resolve, 220));
    await recording.flushRequestLogWhenDue();
    // Past the longest wait, what waits goes, however few.
    expect(batches).toEqual([10, 3]);
    await recording.flushRequestLogWhenDue();
    expect(batches).toEqual([10, 3]);
    expect(recording.requestLog.written).toBe(13);
  });
});
