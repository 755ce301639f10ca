import { describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/schema.ts';
import { UsageRecording } from '../src/usage/recording.ts';
import type { UsageIncrement, UsageSink } from '../src/usage/sink.ts';

/** SPEC 8.7: usage is written behind in batches; with many keys in use, in fewer and larger ones. */

const START = Date.parse('2026-03-02T10:00:00.000Z');

function recordingWith(options: { manyKeys: number }) {
  let clock = START;
  const writes: UsageIncrement[][] = [];
  const sink: UsageSink = {
    addUsage: async (increments) => {
      writes.push([...increments]);
    },
    appendRequests: async () => {},
  };
  const recording = new UsageRecording({
    sink,
    db: undefined as unknown as Kysely<Database>,
    now: () => clock,
    requestLogDays: 7,
    onError: (error) => {
      throw error;
    },
    usageManyKeys: options.manyKeys,
    usageFlushManyKeysMs: 60_000,
  });
  const count = (keys: number) => {
    for (let i = 0; i < keys; i++) recording.counter.count({ organizationId: 'org', apiKeyId: `key-${i}`, env: 'live' }, 'read-light', 200, clock);
  };
  const tick = async (ms: number) => {
    clock += ms;
    await recording.flushUsageWhenDue();
  };
  return { recording, writes, count, tick };
}

const requests = (writes: UsageIncrement[][]) => writes.flat().reduce((sum, increment) => sum + increment.requests, 0);

describe('usage write cadence', () => {
  it('few keys: every tick writes what was counted', async () => {
    const { writes, count, tick } = recordingWith({ manyKeys: 10 });
    for (let i = 0; i < 6; i++) {
      count(10);
      await tick(5_000);
    }
    expect(writes).toHaveLength(6);
    expect(requests(writes)).toBe(60);
  });

  it('many keys: a write a minute, each key once per minute in it, and nothing counted is lost or counted twice', async () => {
    const { recording, writes, count, tick } = recordingWith({ manyKeys: 10 });
    for (let i = 0; i < 24; i++) {
      count(11);
      await tick(5_000);
    }
    expect(writes).toHaveLength(2);
    for (const write of writes) expect(write.length).toBeLessThanOrEqual(2 * 11);
    await recording.flush();
    expect(requests(writes)).toBe(24 * 11);
  });
});
