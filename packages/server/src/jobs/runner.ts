import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { InvalidationBus } from '../auth/invalidation.ts';
import type { Config } from '../config.ts';
import { chargeCredits } from '../organizations/credits-repository.ts';
import { claimNextJob, finishJob, handBackJob, recordJobCharge, renewLeases, type JobError } from './repository.ts';
import { upsertSources } from './sources-repository.ts';
import type { Database, JobRow } from '../db/schema.ts';
import type { Metrics } from '../observability/metrics.ts';
import { OutboundError } from '../outbound/errors.ts';
import { safeFetch } from '../outbound/safe-fetch.ts';
import { presentJob, type JobRecord } from './present.ts';
import { JOB_COSTS, JobFailure, type JobContext, type JobHandler, type JobKind, type JobOutput } from './kinds.ts';
import { tracing } from '../observability/tracing.ts';
import { Poller } from '../queue/poller.ts';

export interface JobRunnerSettings {
  /** Jobs this instance runs at once; 0 makes an instance that serves the API but runs no jobs. */
  concurrency: number;
  /** How long a claim holds without renewal; a dead instance's jobs are picked up again after this. */
  leaseMs: number;
  /** How often the queue is polled (an enqueue on this instance also wakes it at once). */
  pollMs: number;
  /** Lease renewal, which is also how a cancel made on another instance is noticed. */
  heartbeatMs: number;
  /**
   * How long a new job waits before it may start. The partner docs promise that a cancel sent right after the
   * 202 ("within a second") finds the job queued: no credits, no outbound call.
   */
  startDelayMs: number;
  /** A job still running after this is aborted and fails with JOB_TIMEOUT. */
  maxRunMs: number;
  /** Claims of one job (crashes included) before it fails with JOB_ATTEMPTS_EXHAUSTED instead of running again. */
  maxAttempts: number;
  /** On shutdown, how long aborted handlers get to unwind before their jobs are handed back regardless. */
  shutdownGraceMs: number;
}

export const DEFAULT_RUNNER_SETTINGS: JobRunnerSettings = {
  concurrency: 4,
  leaseMs: 30_000,
  pollMs: 1_000,
  heartbeatMs: 500,
  startDelayMs: 1_000,
  maxRunMs: 5 * 60_000,
  maxAttempts: 3,
  shutdownGraceMs: 5_000,
};

/** A job that reached a final status, for whoever listens (webhooks: job.succeeded, job.failed, job.canceled). */
export interface FinishedJob {
  organizationId: string;
  /** The SPEC 8.2 record, as GET /v1/jobs/:jobId shows it. */
  job: JobRecord;
}
export type JobFinishedListener = (event: FinishedJob) => void | Promise<void>;

type AbortWhy = 'canceled' | 'shutdown' | 'lease_lost' | 'timeout';

/** The reason a job's signal carries, so the runner knows what to write when the handler unwinds. */
class JobAbort extends Error {
  constructor(readonly why: AbortWhy) {
    super(`job aborted: ${why}`);
    this.name = 'JobAbort';
  }
}

interface ActiveJob {
  row: JobRow;
  token: string;
  controller: AbortController;
  lastRenewedAt: number;
  done?: Promise<void>;
}

export interface JobRunnerOptions {
  db: Kysely<Database>;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  bus: InvalidationBus;
  handlers: Record<JobKind, JobHandler>;
  /** What jobs of test keys run instead (SPEC 12): fixtures, never an outbound call. */
  testModeHandlers: Record<JobKind, JobHandler>;
  settings?: Partial<JobRunnerSettings>;
  /** Told of every charge a job's start made (usage counts credits per key, SPEC 8.7). */
  onCreditsCharged?: (job: JobRow, credits: number) => void;
  /** The clock lease renewals are timed by (deps.now). */
  now?: () => number;
}

function errorOf(error: unknown): JobError {
  if (error instanceof OutboundError || error instanceof JobFailure) return { code: error.code, message: error.message };
  return { code: 'INTERNAL', message: 'The job failed unexpectedly.' };
}

/**
 * Runs queued jobs from the database with bounded concurrency. Every claim is a lease under a fresh token; the
 * token guards every later write, so an instance that lost its lease (or died) can never finish a job that another
 * instance has taken over, and a job is run by one instance at a time.
 */
export class JobRunner {
  readonly instanceId = randomUUID();
  readonly settings: JobRunnerSettings;
  private readonly active = new Map<string, ActiveJob>();
  private readonly listeners = new Set<JobFinishedListener>();
  private started = false;
  private stopping = false;
  private beating = false;
  /** Claims jobs every pollMs and whenever nudged, one fill at a time. */
  private readonly poller: Poller;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: JobRunnerOptions) {
    const given = Object.entries(options.settings ?? {}).filter(([, value]) => value !== undefined);
    this.settings = { ...DEFAULT_RUNNER_SETTINGS, ...Object.fromEntries(given) };
    this.poller = new Poller(() => this.fill(), this.settings.pollMs);
    this.now = options.now ?? Date.now;
  }

  /** The hook for terminal job events; returns the unsubscribe. Listeners run after the final status is committed. */
  onJobFinished(listener: JobFinishedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.started || this.settings.concurrency === 0) return;
    this.started = true;
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.settings.heartbeatMs);
    this.heartbeatTimer.unref();
    this.poller.start();
  }

  /** A job was queued here: look at the queue when it becomes due rather than at the next poll. */
  enqueued(): void {
    if (!this.started || this.stopping) return;
    if (this.settings.startDelayMs === 0) this.nudge();
    else setTimeout(() => this.nudge(), this.settings.startDelayMs + 5).unref();
  }

  /** Look at the queue now. */
  nudge(): void {
    if (!this.started || this.stopping) return;
    this.poller.nudge();
  }

  /** A cancel of a job running here stops it at once instead of at the next heartbeat. */
  abortLocal(jobId: string): void {
    this.active.get(jobId)?.controller.abort(new JobAbort('canceled'));
  }

  /** Graceful shutdown: stop claiming, abort running handlers, hand their jobs back to the queue. */
  async stop(): Promise<void> {
    if (!this.started || this.stopping) return;
    this.stopping = true;
    await this.poller.stop();
    const running = [...this.active.values()];
    for (const job of running) job.controller.abort(new JobAbort('shutdown'));
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(running.map((job) => job.done)),
      new Promise((resolve) => {
        graceTimer = setTimeout(resolve, this.settings.shutdownGraceMs);
      }),
    ]);
    clearTimeout(graceTimer);
    // Handlers that ignored the abort: their jobs go back now; the token check voids whatever they write later.
    await Promise.allSettled([...this.active.values()].map((job) => this.handBack(job)));
    this.active.clear();
    clearInterval(this.heartbeatTimer);
  }

  /** Reports a job that reached its final status outside the runner (a queued job canceled by the API). */
  notifyFinished(organizationId: string, job: JobRow): void {
    this.options.metrics.jobOutcomes.inc({ kind: job.kind, status: job.status });
    for (const listener of this.listeners) {
      Promise.resolve()
        .then(() => listener({ organizationId, job: presentJob(job) }))
        .catch((error: unknown) => this.options.logger.error({ err: error, jobId: job.id }, 'job listener failed'));
    }
  }

  private async fill(): Promise<void> {
    try {
      while (!this.stopping && this.active.size < this.settings.concurrency) {
        if (!(await this.claimOne())) break;
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, 'job claim failed; retrying at the next poll');
    }
  }

  /**
   * Claims one job and, in the same transaction, charges its cost if it was never charged: the charge and the
   * start are one fact. A job that cannot be charged fails here, before any outbound call.
   */
  private async claimOne(): Promise<boolean> {
    const { db } = this.options;
    const token = randomUUID();
    const claimed = await db.transaction().execute(async (trx) => {
      const row = await claimNextJob(trx, {
        token,
        instance: this.instanceId,
        leaseMs: this.settings.leaseMs,
        kinds: Object.keys(this.options.handlers),
        running: [...this.active.keys()],
      });
      if (!row) return null;
      if (row.cancel_requested) return { finished: await finishJob(trx, row.id, token, { status: 'canceled' }), row };
      if (row.attempts > this.settings.maxAttempts) {
        const error = { code: 'JOB_ATTEMPTS_EXHAUSTED', message: `The job was started ${this.settings.maxAttempts} times without finishing.` };
        return { finished: await finishJob(trx, row.id, token, { status: 'failed', error }), row };
      }
      // SPEC 12: a test-mode job charges nothing and never touches the wallet.
      const cost = row.env === 'test' ? 0 : JOB_COSTS[row.kind as JobKind];
      if (row.credits_charged > 0 || cost === 0) return { run: row, row };
      if (!(await chargeCredits(trx, row.organization_id, cost))) {
        const error = { code: 'INSUFFICIENT_CREDITS', message: `The organization's credit balance is below the ${cost} credits this job costs.` };
        return { finished: await finishJob(trx, row.id, token, { status: 'failed', error }), row };
      }
      return { run: await recordJobCharge(trx, row.id, token, cost), charged: true, row };
    });
    if (!claimed) return false;
    if (claimed.charged) {
      void this.options.bus.publish({ kind: 'organization', organizationId: claimed.row.organization_id }).catch(() => {});
      if (claimed.run) this.options.onCreditsCharged?.(claimed.run, claimed.run.credits_charged);
    }
    if (claimed.finished) this.notifyFinished(claimed.finished.organization_id, claimed.finished);
    if (claimed.run) {
      if (this.stopping) await this.handBack({ row: claimed.run, token, controller: new AbortController(), lastRenewedAt: this.now() });
      else this.launch(claimed.run, token);
    }
    return true;
  }

  private launch(row: JobRow, token: string): void {
    const job: ActiveJob = { row, token, controller: new AbortController(), lastRenewedAt: this.now() };
    const deadline = setTimeout(() => job.controller.abort(new JobAbort('timeout')), this.settings.maxRunMs);
    this.active.set(row.id, job);
    job.done = this.execute(job).finally(() => {
      clearTimeout(deadline);
      this.active.delete(row.id);
      this.nudge();
    });
  }

  private contextFor(job: ActiveJob): JobContext {
    const { upstreams } = this.options.config;
    if (job.row.env === 'test') {
      // The fixtures need no fetch; one made anyway is a bug, refused before it leaves the process.
      return { signal: job.controller.signal, upstreams, fetch: () => Promise.reject(new Error('test-mode jobs make no outbound call')) };
    }
    return {
      signal: job.controller.signal,
      upstreams,
      fetch: (url, options) => safeFetch(url, { timeoutMs: upstreams.timeoutMs, ...options, signal: job.controller.signal, allowPrivate: upstreams.allowPrivate }),
    };
  }

  /** A job run is a trace of its own (it outlives the request that queued it), with its fetches as children. */
  private execute(job: ActiveJob): Promise<void> {
    const traces = tracing.current;
    if (!traces) return this.executeJob(job);
    const span = traces.start(`job ${job.row.kind}`, { root: true, attributes: { 'gatehouse.job_id': job.row.id, 'gatehouse.job_kind': job.row.kind } });
    return traces.within(span, () => this.executeJob(job)).then(
      () => traces.end(span),
      (error: unknown) => {
        traces.end(span, error);
        throw error;
      },
    );
  }

  private async executeJob(job: ActiveJob): Promise<void> {
    const { row, token, controller } = job;
    const handler = (row.env === 'test' ? this.options.testModeHandlers : this.options.handlers)[row.kind as JobKind];
    let output: JobOutput | undefined;
    let failure: unknown;
    try {
      output = await handler(row.input, this.contextFor(job));
    } catch (error) {
      failure = error;
    }
    const why = controller.signal.aborted && controller.signal.reason instanceof JobAbort ? controller.signal.reason.why : undefined;
    try {
      if (why === 'lease_lost') return;
      if (output) return await this.succeed(job, output);
      if (why === 'shutdown') return await this.handBack(job);
      if (why === 'canceled') return this.report(await finishJob(this.options.db, row.id, token, { status: 'canceled' }));
      if (why === 'timeout') {
        const error = { code: 'JOB_TIMEOUT', message: `The job did not finish within ${this.settings.maxRunMs} ms.` };
        return this.report(await finishJob(this.options.db, row.id, token, { status: 'failed', error }));
      }
      const error = errorOf(failure);
      if (error.code === 'INTERNAL') this.options.logger.error({ err: failure, jobId: row.id, kind: row.kind }, 'job handler failed');
      this.report(await finishJob(this.options.db, row.id, token, { status: 'failed', error }));
    } catch (error) {
      // The lease runs out and another instance takes the job over; nothing here may crash the runner.
      this.options.logger.error({ err: error, jobId: row.id }, 'job outcome could not be recorded');
    }
  }

  /** The final status and the sources in one transaction: a job never reads as succeeded without what it found. */
  private async succeed(job: ActiveJob, output: JobOutput): Promise<void> {
    const finished = await this.options.db.transaction().execute(async (trx) => {
      const row = await finishJob(trx, job.row.id, job.token, { status: 'succeeded', result: output.result });
      if (row?.status === 'succeeded') {
        await upsertSources(trx, { organizationId: row.organization_id, env: row.env, projectId: row.project_id, jobId: row.id }, output.sources);
      }
      return row;
    });
    this.report(finished);
  }

  private async handBack(job: ActiveJob): Promise<void> {
    try {
      this.report(await handBackJob(this.options.db, job.row.id, job.token));
    } catch (error) {
      this.options.logger.warn({ err: error, jobId: job.row.id }, 'job could not be handed back; its lease will expire');
    }
  }

  /** Undefined means the lease was gone when the write happened: the job belongs to someone else now. */
  private report(row: JobRow | undefined): void {
    if (row && (row.status === 'succeeded' || row.status === 'failed' || row.status === 'canceled')) this.notifyFinished(row.organization_id, row);
  }

  /**
   * Renews every lease this instance holds in one statement and reads their cancel flags. A lease that was not
   * renewed was taken over; a database that cannot be reached for most of a lease means it is about to be.
   */
  private async heartbeat(): Promise<void> {
    if (this.beating || this.active.size === 0) return;
    this.beating = true;
    const jobs = [...this.active.values()];
    try {
      const held = new Map((await renewLeases(this.options.db, jobs.map((job) => job.token), this.settings.leaseMs)).map((row) => [row.lease_token, row]));
      const now = this.now();
      for (const job of jobs) {
        const lease = held.get(job.token);
        if (!lease) {
          job.controller.abort(new JobAbort('lease_lost'));
        } else {
          job.lastRenewedAt = now;
          if (lease.cancel_requested) job.controller.abort(new JobAbort('canceled'));
        }
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, 'job lease renewal failed');
      const now = this.now();
      for (const job of jobs) if (now - job.lastRenewedAt > this.settings.leaseMs * 0.8) job.controller.abort(new JobAbort('lease_lost'));
    } finally {
      this.beating = false;
    }
  }
}
