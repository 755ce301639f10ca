import type { Deps } from '../deps.ts';
import { creditBalanceOf } from '../db/repositories/credits.ts';
import { findJobForOrganization, insertJob, requestCancel } from '../db/repositories/jobs.ts';
import type { JobRow } from '../db/schema.ts';
import { ApiError, conflict, notFound } from '../http/errors.ts';
import { JOB_COSTS, type JobKind } from './kinds.ts';
import { requireActiveProject } from '../projects/service.ts';

/**
 * Queues a job for a project of the organization. The balance check here only answers 402 early; the charge
 * that counts happens when the job starts (SPEC 8.3), so a job queued while credits sufficed can still fail
 * INSUFFICIENT_CREDITS if other jobs spend them first.
 */
export async function enqueueJob(deps: Deps, organizationId: string, projectId: string, kind: JobKind, input: Record<string, unknown>): Promise<JobRow> {
  const db = deps.store.db;
  await requireActiveProject(db, organizationId, projectId);
  const cost = JOB_COSTS[kind];
  const balance = await creditBalanceOf(db, organizationId);
  if (balance < cost) {
    throw new ApiError('INSUFFICIENT_CREDITS', `This job costs ${cost} credits; the organization has ${balance}.`, { required: cost, creditBalance: balance });
  }
  const job = await insertJob(db, { organizationId, projectId, kind, input, startDelayMs: deps.jobs.settings.startDelayMs });
  deps.jobs.enqueued();
  return job;
}

export async function jobOfOrganization(deps: Deps, organizationId: string, jobId: string): Promise<JobRow> {
  const job = await findJobForOrganization(deps.store.db, organizationId, jobId);
  if (!job) throw notFound('Job');
  return job;
}

/**
 * SPEC 8.2: queued → canceled now (200); running → flagged and aborted (202), here at once and on another instance
 * at its next lease renewal; finished → 409 already_terminal.
 */
export async function cancelJob(deps: Deps, organizationId: string, jobId: string): Promise<{ status: 200 | 202; job: JobRow }> {
  // A job handed back by a stopping instance moves running → queued; one more look catches it in its new state.
  for (let attempt = 0; attempt < 3; attempt++) {
    const job = await requestCancel(deps.store.db, organizationId, jobId);
    if (job?.status === 'canceled') {
      deps.jobs.notifyFinished(organizationId, job);
      return { status: 200, job };
    }
    if (job) {
      deps.jobs.abortLocal(jobId);
      return { status: 202, job };
    }
    const current = await jobOfOrganization(deps, organizationId, jobId);
    if (current.status !== 'queued' && current.status !== 'running') throw conflict('already_terminal', `The job already ended ${current.status}.`);
  }
  throw new ApiError('UNAVAILABLE', 'The job is changing state; retry the cancel.', undefined, { 'retry-after': '1' });
}
