/**
 * The floor for POST /v1/projects (bench scenario unit-of-work): bare Fastify and `pg`, no Gatehouse code, doing the
 * four statements such a create needs in one transaction: claim the Idempotency-Key, insert the project, insert the
 * audit entry, store the answer. Same tables (the Gatehouse server migrated the database), same pool size (10).
 * Env: DATABASE_URL, ORGANIZATION_ID, API_KEY_ID. Prints `listening <url>`.
 */
import Fastify from 'fastify';
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const organizationId = process.env.ORGANIZATION_ID!;
const apiKeyId = process.env.API_KEY_ID!;
const app = Fastify({ logger: false });

app.post('/v1/projects', async (request, reply) => {
  const key = createHash('sha256').update(String(request.headers['idempotency-key'])).digest('base64url');
  const body = request.body as { name: string; timezone?: string; primaryLanguage?: string };
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const now = new Date();
    await client.query(
      `INSERT INTO idempotency_keys (api_key_id, method, path, idempotency_key, fingerprint, state, owner, locked_until, request_id, created_at, expires_at)
       VALUES ($1, 'POST', '/v1/projects', $2, $3, 'running', $4, $5, $6, $7, $8)`,
      [apiKeyId, key, 'fingerprint', randomUUID(), new Date(now.getTime() + 60_000), request.id, now, new Date(now.getTime() + 86_400_000)],
    );
    const { rows } = await client.query(
      `INSERT INTO projects (organization_id, name, timezone, primary_language) VALUES ($1, $2, $3, $4) RETURNING *`,
      [organizationId, body.name, body.timezone ?? 'UTC', body.primaryLanguage ?? 'en'],
    );
    const project = rows[0] as Record<string, unknown>;
    await client.query(
      `INSERT INTO audit_entries (organization_id, api_key_id, actor, action, target_type, target_id, request_id, status) VALUES ($1, $2, $3, 'project.create', 'project', $4, $5, 201)`,
      [organizationId, apiKeyId, `key:${apiKeyId}`, project.id, request.id],
    );
    const answer = JSON.stringify(project);
    await client.query(
      `UPDATE idempotency_keys SET state = 'done', owner = NULL, locked_until = NULL, response_status = 201, response_content_type = 'application/json', response_body = $3
       WHERE api_key_id = $1 AND method = 'POST' AND path = '/v1/projects' AND idempotency_key = $2`,
      [apiKeyId, key, Buffer.from(answer)],
    );
    await client.query('COMMIT');
    return reply.code(201).type('application/json').send(answer);
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
});

const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`listening ${url}\n`);
process.on('SIGTERM', () => void app.close().then(() => pool.end()).then(() => process.exit(0)));
