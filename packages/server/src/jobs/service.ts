import type { Kysely } from 'kysely';
import type { Deps } from '../deps.ts';
import { creditBalanceOf } from '../organizations/credits-repository.ts';
import { findJobForOrganization, insertJob, requestCancel } from './repository.ts';
import type { Database, JobRow, Tenant } from '../db/schema.ts';
import type { Tx } from '../db/transaction.ts';
import { ApiError, conflict, notFound } from '../http/errors.ts';
import { JOB_COSTS, type JobKind } from './kinds.ts';
import { activeProjectOf } from '../projects/service.ts';

type Db = Kysely<Database>;

/**
 * Queues a job for a project of the organization, as a row in the caller's transaction; the runner is nudged once it
 * commits. The balance check here only answers 402 early; the charge that counts happens when the job starts
 * (SPEC 8.3), so a job queued while credits sufficed can still fail INSUFFICIENT_CREDITS if other jobs spend them first.
 */
export async function enqueueJob(
  tx: Tx,
  deps: Pick<Deps, 'jobs'>,
  job: { tenant: Tenant; projectId: string; kind: JobKind; input: Record<string, unknown>; apiKeyId?: string },
): Promise<JobRow> {
  await activeProjectOf(tx.db, job.tenant, job.projectId);
  // SPEC 12: test-mode jobs charge nothing, so INSUFFICIENT_CREDITS does not apply to them.
  const cost = job.tenant.env === 'test' ? 0 : JOB_COSTS[job.kind];
  const balance = cost === 0 ? 0 : await creditBalanceOf(tx.db, job.tenant.organizationId);
  if (balance < cost) {
    throw new ApiError('INSUFFICIENT_CREDITS', `This job costs ${cost} credits; the organization has ${balance}.`, { required: cost, creditBalance: balance });
  }
  const row = await insertJob(tx.db, { ...job, startDelayMs: deps.jobs.settings.startDelayMs });
  tx.afterCommit(() => deps.jobs.enqueued());
  return row;
}

/** The organization's job: 404 when it has none with this id, exactly as for another organization's (SPEC 8). */
export async function jobOf(db: Db, tenant: Tenant, jobId: string): Promise<JobRow> {
  const job = await findJobForOrganization(db, tenant, jobId);
  if (!job) throw notFound('Job');
  return job;
}

/**
 * SPEC 8.2: queued → canceled now (200); running → flagged and aborted (202), here once the cancel commits and on
 * another instance at its next lease renewal; finished → 409 already_terminal.
 */
export async function cancelJob(tx: Tx, deps: Pick<Deps, 'jobs'>, tenant: Tenant, jobId: string): Promise<{ status: 200 | 202; job: JobRow }> {
  // A job handed back by a stopping instance moves running → queued; one more look catches it in its new state.
  for (let attempt = 0; attempt < 3; attempt++) {
    const job = await requestCancel(tx.db, tenant, jobId);
    if (job?.status === 'canceled') {
      tx.afterCommit(() => deps.jobs.notifyFinished(tenant.organizationId, job));
      return { status: 200, job };
    }
    if (job) {
      tx.afterCommit(() => deps.jobs.abortLocal(jobId));
      return { status: 202, job };
    }
    const current = await jobOf(tx.db, tenant, jobId);
    if (current.status !== 'queued' && current.status !== 'running') throw conflict('already_terminal', `The job already ended ${current.status}.`);
  }
  throw new ApiError('UNAVAILABLE', 'The job is changing state; retry the cancel.', undefined, { 'retry-after': '1' });
}
