/**
 * The framework's own floor for the hot path (issue 14): a Fastify app answering a small JSON, with no logging
 * (BENCH_BASELINE=bare) or with pino request logging to /dev/null (BENCH_BASELINE=pino, Fastify's own logger at
 * `info`: a line when a request comes in and one when it completes). A child process of its own, like the Gatehouse
 * servers; prints one JSON line { baseUrl, pid } on stdout.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';

const kind = process.env.BENCH_BASELINE === 'pino' ? 'pino' : 'bare';
const app = (
  kind === 'pino'
    ? Fastify({ loggerInstance: pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 })) })
    : Fastify({ logger: false })
) as FastifyInstance;
const body = { organizationId: '00000000-0000-4000-8000-000000000000', env: 'live', scopes: [], killSwitch: false };
app.get('/json', async () => body);
const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ baseUrl, pid: process.pid })}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
