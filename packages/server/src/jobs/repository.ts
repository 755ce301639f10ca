import { sql, type Kysely } from 'kysely';
import type { Database, JobRow, JobStatus, Tenant } from '../db/schema.ts';

type Db = Kysely<Database>;

export interface JobError {
  code: string;
  message: string;
}

const leaseEnd = (leaseMs: number) => sql<Date>`now() + ${leaseMs}::int * interval '1 millisecond'`;

export const insertJob = (
  db: Db,
  job: { tenant: Tenant; projectId: string; kind: string; input: Record<string, unknown>; startDelayMs: number; apiKeyId?: string | undefined },
): Promise<JobRow> =>
  db
    .insertInto('jobs')
    .values({
      organization_id: job.tenant.organizationId,
      env: job.tenant.env,
      api_key_id: job.apiKeyId ?? null,
      project_id: job.projectId,
      kind: job.kind,
      input: JSON.stringify(job.input),
      run_after: sql<Date>`clock_timestamp() + ${job.startDelayMs}::int * interval '1 millisecond'`,
    })
    .returningAll()
    .executeTakeFirstOrThrow();

export const findJobForOrganization = (db: Db, tenant: Tenant, jobId: string): Promise<JobRow | undefined> =>
  db
    .selectFrom('jobs')
    .selectAll()
    .where('id', '=', jobId)
    .where('organization_id', '=', tenant.organizationId)
    .where('env', '=', tenant.env)
    .executeTakeFirst();

/**
 * Takes the oldest job that is queued and due, or running under a lease nobody renewed (its instance died), and leases it
 * to the caller under a fresh token. SKIP LOCKED lets instances claim side by side without waiting on each other
 * or ever taking the same row. `running` are the jobs the caller still runs: their leases lapse when the caller's
 * process stalls (a loaded machine, a long pause), and taking one again would run it twice in one process; its next
 * heartbeat renews the lease instead, unless another instance took the job over meanwhile.
 */
export async function claimNextJob(
  db: Db,
  claim: { token: string; instance: string; leaseMs: number; kinds: readonly string[]; running: readonly string[] },
): Promise<JobRow | undefined> {
  if (claim.kinds.length === 0) return undefined;
  const notRunningHere = claim.running.length === 0 ? sql`` : sql`AND id NOT IN (${sql.join(claim.running)})`;
  const { rows } = await sql<JobRow>`
    UPDATE jobs
    SET status = 'running', lease_token = ${claim.token}, leased_by = ${claim.instance}, lease_expires_at = ${leaseEnd(claim.leaseMs)},
        started_at = coalesce(started_at, now()), attempts = attempts + 1
    WHERE id = (
      SELECT id FROM jobs
      WHERE kind IN (${sql.join(claim.kinds)})
        AND ((status = 'queued' AND run_after <= now()) OR (status = 'running' AND lease_expires_at < now()))
        ${notRunningHere}
      ORDER BY created_at
      LIMIT 1
      FOR UPDATE SKIP LOCKED
    )
    RETURNING *`.execute(db);
  return rows[0];
}

/** Renews the caller's leases in one statement; the rows it returns are the leases still held, with their cancel flags. */
export const renewLeases = (db: Db, tokens: string[], leaseMs: number): Promise<Array<{ lease_token: string | null; cancel_requested: boolean }>> =>
  tokens.length === 0
    ? Promise.resolve([])
    : db
        .updateTable('jobs')
        .set({ lease_expires_at: leaseEnd(leaseMs) })
        .where('lease_token', 'in', tokens)
        .where('status', '=', 'running')
        .returning(['lease_token', 'cancel_requested'])
        .execute();

export const recordJobCharge = (db: Db, jobId: string, token: string, credits: number): Promise<JobRow | undefined> =>
  db
    .updateTable('jobs')
    .set({ credits_charged: credits })
    .where('id', '=', jobId)
    .where('lease_token', '=', token)
    .returningAll()
    .executeTakeFirst();

/**
 * Ends a job the caller holds. A cancel that arrived while it ran wins over the outcome, so a 202 to a cancel
 * always ends `canceled`. Undefined when the lease was lost: someone else owns the job now.
 */
export async function finishJob(
  db: Db,
  jobId: string,
  token: string,
  outcome: { status: Exclude<JobStatus, 'queued' | 'running'>; result?: Record<string, unknown>; error?: JobError },
): Promise<JobRow | undefined> {
  const { rows } = await sql<JobRow>`
    UPDATE jobs
    SET status = CASE WHEN cancel_requested THEN 'canceled' ELSE ${outcome.status} END,
        result = CASE WHEN cancel_requested THEN NULL ELSE ${outcome.result ? JSON.stringify(outcome.result) : null}::jsonb END,
        error = CASE WHEN cancel_requested THEN NULL ELSE ${outcome.error ? JSON.stringify(outcome.error) : null}::jsonb END,
        finished_at = now(), lease_token = NULL, lease_expires_at = NULL
    WHERE id = ${jobId} AND lease_token = ${token} AND status = 'running'
    RETURNING *`.execute(db);
  return rows[0];
}

/** Graceful shutdown: the job goes back to the queue (not counted as an attempt), or ends if a cancel is pending. */
export async function handBackJob(db: Db, jobId: string, token: string): Promise<JobRow | undefined> {
  const { rows } = await sql<JobRow>`
    UPDATE jobs
    SET status = CASE WHEN cancel_requested THEN 'canceled' ELSE 'queued' END,
        finished_at = CASE WHEN cancel_requested THEN now() ELSE NULL END,
        attempts = greatest(attempts - 1, 0), lease_token = NULL, lease_expires_at = NULL
    WHERE id = ${jobId} AND lease_token = ${token} AND status = 'running'
    RETURNING *`.execute(db);
  return rows[0];
}

/**
 * SPEC 8.2 cancel in one guarded statement: a queued job ends `canceled` right here; a running one is flagged for
 * its runner. The returned status tells which happened; undefined means missing or already finished.
 */
export async function requestCancel(db: Db, tenant: Tenant, jobId: string): Promise<JobRow | undefined> {
  const { rows } = await sql<JobRow>`
    UPDATE jobs
    SET status = CASE WHEN status = 'queued' THEN 'canceled' ELSE status END,
        finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,
        cancel_requested = true
    WHERE id = ${jobId} AND organization_id = ${tenant.organizationId} AND env = ${tenant.env} AND status IN ('queued', 'running')
    RETURNING *`.execute(db);
  return rows[0];
}
