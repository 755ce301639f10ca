import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Database } from '../src/db/schema.ts';
import { CpuPressure } from '../src/usage/cpu-pressure.ts';
import { UsageRecording } from '../src/usage/recording.ts';
import type { RequestLogEntry, UsageSink } from '../src/usage/sink.ts';

/** SPEC 8.7: the request log is written behind in batches from a bounded buffer that drops and counts, never slows. */

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

/** A writer over a sink whose statements wait for `release()` when `hold` is set, as a store slower than traffic. */
function writerWith(options: { capacity?: number; maxWaitMs?: number; failing?: boolean; cpuShort?: () => boolean; statementMs?: number; afterStatement?: (batches: number[]) => void } = {}) {
  const batches: number[] = [];
  let held: Array<() => void> | undefined;
  const sink: UsageSink = {
    addUsage: async () => {},
    appendRequests: async (entries) => {
      if (options.failing) throw new Error('store refused the rows');
      if (held) await new Promise<void>((resolve) => held!.push(resolve));
      if (options.statementMs) await new Promise((resolve) => setTimeout(resolve, options.statementMs));
      batches.push(entries.length);
      options.afterStatement?.(batches);
    },
  };
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
    ...(options.maxWaitMs === undefined ? {} : { requestLogMaxWaitMs: options.maxWaitMs }),
    // Answering has the CPU to itself unless a test says otherwise, whatever else this machine runs meanwhile.
    cpuShort: options.cpuShort ?? (() => false),
    requestLogShareWhileShort: 0.2,
  });
  const append = (rows: number) => {
    for (let i = 0; i < rows; i++) recording.requestLog.append(entry(i));
  };
  const hold = () => {
    held = [];
  };
  const release = () => {
    const waiting = held ?? [];
    held = undefined;
    for (const resolve of waiting) resolve();
  };
  return { recording, batches, append, hold, release };
}

describe('request log writer', () => {
  it('writes all that waits in statements of its batch size, rows that arrive while it writes included', async () => {
    const { recording, batches, append, hold, release } = writerWith();
    append(95);
    hold();
    const writing = recording.flushRequestLog();
    await new Promise((resolve) => setImmediate(resolve));
    append(7);
    release();
    await writing;
    expect(batches).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 2]);
    expect(recording.requestLog.written).toBe(102);
    expect(recording.requestLog.size).toBe(0);
  });

  it('while the store is slower than traffic, keeps what fits, drops and counts the rest; every row is accounted for', async () => {
    const { recording, batches, append, hold, release } = writerWith({ capacity: 200 });
    append(150);
    hold();
    const writing = recording.flushRequestLog();
    await new Promise((resolve) => setImmediate(resolve));
    // One statement of 10 is in flight; 140 wait, and 60 more fit.
    append(150);
    expect(recording.requestLog.size).toBe(200);
    expect(recording.requestLog.dropped).toBe(90);
    release();
    await writing;
    expect(batches.reduce((sum, rows) => sum + rows, 0)).toBe(210);
    expect(recording.requestLog.written + recording.requestLog.dropped + recording.requestLog.size).toBe(300);
    expect(recording.requestLog.size).toBe(0);
  });

  it('drops and counts the rows of a statement the store refused, and keeps none of them to retry', async () => {
    const { recording, append } = writerWith({ failing: true });
    append(25);
    await expect(recording.flushRequestLog()).rejects.toThrow('store refused the rows');
    expect(recording.requestLog.dropped).toBe(10);
    expect(recording.requestLog.written + recording.requestLog.dropped + recording.requestLog.size).toBe(25);
  });

  it('on its timer, goes on past its first statement only while whole statements wait; a flush writes the rest', async () => {
    const { recording, batches, append, hold, release } = writerWith();
    append(25);
    hold();
    const writing = recording.flushRequestLogWhenDue();
    await new Promise((resolve) => setImmediate(resolve));
    // Three rows arrive while the first statement is in flight: 18 wait behind it, one whole statement and 8.
    append(3);
    release();
    await writing;
    expect(batches).toEqual([10, 10]);
    expect(recording.requestLog.size).toBe(8);

    // A flush asked for while a timer's write is under way waits for it, then writes everything.
    append(4);
    hold();
    const due = recording.flushRequestLogWhenDue();
    await new Promise((resolve) => setImmediate(resolve));
    const flushed = recording.flushRequestLog();
    append(1);
    release();
    await Promise.all([due, flushed]);
    expect(batches).toEqual([10, 10, 10, 3]);
    expect(recording.requestLog.size).toBe(0);
    expect(recording.requestLog.written).toBe(33);
  });

  it('on its timer, writes once a statement’s rows wait, or once the oldest may have waited its longest, not on every tick', async () => {
    const { recording, batches, append } = writerWith({ maxWaitMs: 200 });
    await recording.flushRequestLog();
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

  it('while answering is short of CPU, writes a statement at a time for a share of the time, drops and counts past its buffer, and catches up once it is not', async () => {
    let short = true;
    const { recording, batches, append } = writerWith({ capacity: 100, cpuShort: () => short, statementMs: 20 });
    append(150);
    expect(recording.requestLog.dropped).toBe(50);
    const startedAt = performance.now();
    while (performance.now() - startedAt < 400) {
      await recording.flushRequestLogWhenDue();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(recording.requestLogYielding).toBe(true);
    // Statements of 20 ms with a share of 0.2: one begins at most every 100 ms, so at most five in 400 ms, not twenty.
    expect(batches.length).toBeGreaterThanOrEqual(2);
    expect(batches.length).toBeLessThanOrEqual(5);
    expect(batches.every((rows) => rows === 10)).toBe(true);
    short = false;
    await recording.flushRequestLogWhenDue();
    expect(recording.requestLogYielding).toBe(false);
    expect(recording.requestLog.size).toBe(0);
    expect(recording.requestLog.written).toBe(100);
    expect(recording.requestLog.written + recording.requestLog.dropped).toBe(150);
  });

  it('catching up, stops between statements once answering is short of CPU again', async () => {
    let short = false;
    // Answering runs short of CPU while the third statement is written.
    const afterStatement = (batches: number[]) => {
      if (batches.length === 3) short = true;
    };
    const { recording, batches, append } = writerWith({ cpuShort: () => short, afterStatement });
    append(50);
    await recording.flushRequestLogWhenDue();
    expect(batches).toEqual([10, 10, 10]);
    expect(recording.requestLogYielding).toBe(true);
    expect(recording.requestLog.size).toBe(20);
  });

  it('a flush writes everything that waits even while answering is short of CPU (tests, shutdown)', async () => {
    const { recording, batches, append } = writerWith({ cpuShort: () => true });
    append(35);
    await recording.flushRequestLog();
    expect(batches).toEqual([10, 10, 10, 5]);
    expect(recording.requestLog.written).toBe(35);
  });
});

describe('cpu pressure', () => {
  const busyFor = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };
  const idleFor = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('finds answering short of CPU after a window in which the event loop was busy throughout, and not after one it idled through', async () => {
    // Only the event loop's reading: how idle the rest of this machine is depends on what else runs beside the test.
    const pressure = new CpuPressure({ minIdleShare: 0 });
    busyFor(600);
    expect(pressure.isShort()).toBe(true);
    expect(pressure.loopUtilization).toBeGreaterThan(0.9);
    // The verdict holds until the next window is long enough to read.
    await idleFor(50);
    expect(pressure.isShort()).toBe(true);
    await idleFor(600);
    expect(pressure.isShort()).toBe(false);
    expect(pressure.loopUtilization).toBeLessThan(0.5);
  });

  it('finds the CPU short when less of the machine idles than it asks for', async () => {
    const pressure = new CpuPressure({ minIdleShare: 1.01, maxLoopUtilization: 1 });
    await idleFor(600);
    expect(pressure.isShort()).toBe(true);
    expect(pressure.idleShare).toBeGreaterThanOrEqual(0);
    expect(pressure.idleShare).toBeLessThanOrEqual(1);
  });
});
