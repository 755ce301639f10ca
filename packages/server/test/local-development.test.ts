import { describe, expect, it } from 'vitest';
import { partnerWithKey, withKey } from './factories.ts';
import { startTestApp, testConfig } from './harness.ts';

const SETTING = 'GATEHOUSE_ALLOW_PRIVATE_UPSTREAMS';

describe('a webhook receiver on localhost (local development)', () => {
  it('is refused with a 422 that names the setting, and the server does not warn, while the setting is off', async () => {
    const t = await startTestApp({ config: { upstreams: { ...testConfig().upstreams, allowPrivate: false } } });
    try {
      const { key } = await partnerWithKey(t.app);
      const response = await t.app.inject({
        method: 'POST',
        url: '/v1/webhook-endpoints',
        headers: withKey(key.key),
        payload: { url: 'http://localhost:4000/hooks', events: ['job.succeeded'] },
      });
      expect(response.statusCode).toBe(422);
      expect(response.json().error.details.issues).toEqual([{ path: 'body.url', message: expect.stringContaining(`${SETTING}=true`) }]);
      expect(t.logs.text).not.toContain(SETTING);
    } finally {
      await t.close();
    }
  });

  it('is accepted while the setting is on, and the server warns about it in the log at start', async () => {
    const t = await startTestApp({ config: { upstreams: { ...testConfig().upstreams, allowPrivate: true } } });
    try {
      const warning = t.logs.lines.map((line) => JSON.parse(line) as { level: number; msg: string }).find((line) => line.msg.startsWith(`${SETTING} is on`));
      expect(warning?.level).toBe(40);
      const { key } = await partnerWithKey(t.app);
      const response = await t.app.inject({
        method: 'POST',
        url: '/v1/webhook-endpoints',
        headers: withKey(key.key),
        payload: { url: 'http://localhost:4000/hooks', events: ['job.succeeded'] },
      });
      expect(response.statusCode).toBe(201);
    } finally {
      await t.close();
    }
  });
});
