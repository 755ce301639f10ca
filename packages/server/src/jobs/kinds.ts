import type { Config } from '../config.ts';
import type { NewSource } from './sources-repository.ts';
import type { OutboundResponse, SafeFetchOptions } from '../outbound/safe-fetch.ts';

export const JOB_KINDS = ['ingest_appstore', 'ingest_website', 'ingest_github'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/**
 * Credits a job of each kind costs (SPEC 8.3), taken once when it first starts running, never when it is queued.
 * A job canceled while queued costs nothing; one canceled while running keeps its charge (the upstream work had
 * begun). A website crawl reads up to 20 pages, so it costs the most.
 */
export const JOB_COSTS: Record<JobKind, number> = {
  ingest_appstore: 10,
  ingest_website: 20,
  ingest_github: 15,
};

export interface JobContext {
  /** Fires on cancel, shutdown, lease loss or the job's deadline; every fetch made through `fetch` stops with it. */
  signal: AbortSignal;
  upstreams: Config['upstreams'];
  /** safeFetch bound to this job's signal and the deployment's address rule and timeout. */
  fetch(url: string | URL, options?: Omit<SafeFetchOptions, 'signal' | 'allowPrivate'>): Promise<OutboundResponse>;
}

export interface JobOutput {
  /** A small summary for the job record; the findings themselves go to project sources. */
  result: Record<string, unknown>;
  sources: NewSource[];
}

export type JobHandler = (input: Record<string, unknown>, context: JobContext) => Promise<JobOutput>;

/** An expected way for a job to fail, with the code its record will carry. */
export class JobFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'JobFailure';
  }
}
