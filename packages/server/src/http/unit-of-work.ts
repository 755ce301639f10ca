import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Deps } from '../deps.ts';
import { auditInsertQuery, insertAuditEntry, type AuditRecord } from '../audit/repository.ts';
import { endingTransaction } from '../db/postgres-driver.ts';
import { auditDetailsOf, auditedText, checkAuditActionName } from './audit-details.ts';
import type { Database, IdempotencyEntry } from '../db/schema.ts';
import { coversIdempotency, type IdempotencyOptions } from '../idempotency/plugin.ts';
import { findIdempotencyEntry, keepAnswer, startClaim, type Claimed } from '../idempotency/repository.ts';
import { outcomeFor } from '../idempotency/rules.ts';
import { openBytes, sealBytes } from '../secrets/aes-gcm.ts';
import { ApiError, errorBody } from './errors.ts';
import type { AuditTarget } from './route-config.ts';
import { addRouteHook } from './route-hooks.ts';

/**
 * SPEC 6 "one unit of work" and SPEC 10.3. A mutating handler hands its work to `unitOfWork`, which runs it in one
 * transaction together with the request's audit entry and the answer kept under its Idempotency-Key, commits, and
 * only then runs the effects outside the database (a bus publish, a nudge) and sends the answer:
 *
 *   return unitOfWork(request, reply, async (unit) => {
 *     const project = await createProject(unit.db, organizationId, request.body);   // services take the transaction
 *     unit.audit({ type: 'project', id: project.id, organizationId });
 *     unit.afterCommit(() => deps.bus.publish(...));
 *     return { status: 201, body: presentProject(project) };
 *   });
 *
 * Work slower than a few statements (bcrypt, an outbound call) goes in `before`, which runs outside the transaction
 * and only when the key has no kept answer yet. Nothing inside the work may use `deps.store.db`: on PGlite, the one
 * connection belongs to the transaction until it ends.
 *
 * How the Idempotency-Key is claimed: inside the unit's own transaction, by a transaction-scoped advisory lock on the
 * key's scope, read together with the answer already kept under it. On PostgreSQL the claim travels in one message with
 * BEGIN and the work's first statement (db/postgres-driver.ts), and its finding stops the work right there: a second
 * request meanwhile does not get the lock and answers 409 once that one statement is back, without going further; the
 * work of one that finds an answer kept is rolled back and the answer replayed. When the process dies the connection
 * closes, the transaction rolls back and the lock goes with it, so a retry runs at once, never waiting out a lease (the
 * previous design, a claim committed on its own with a lease, held such retries for a minute). The answer is written in
 * the same transaction as the change, so either both exist or neither does; the primary key of the kept answers is the
 * last word if two transactions ever slip past each other. What this gives up: work in `before` (hashing, an outbound
 * call) is not covered by the claim, so two truly simultaneous first requests may both do it, and one of them is then
 * rolled back and replays the other.
 */

export interface UnitOfWork {
  /** The transaction: hand it to services and repositories. */
  readonly db: Kysely<Database>;
  /** What the change acted on, for its audit entry (the `:id` parameter when unset). */
  audit(target: AuditTarget, details?: Record<string, unknown>): void;
  /** An effect outside the database, run once the transaction has committed (failures are logged, not answered). */
  afterCommit(effect: () => unknown): void;
}

export interface Answer {
  /** 200 when unset. */
  status?: number;
  /** Serialized with the route's response schema; sent as it is when `contentType` is given. */
  body: unknown;
  contentType?: string;
}

/** A 204 answer from a unit of work (sent as it is: no body to serialize). */
export const NO_CONTENT: Answer = Object.freeze({ status: 204, body: '', contentType: 'application/json; charset=utf-8' });

type Work<P> = (unit: UnitOfWork, prepared: P) => Promise<Answer>;
type Before<P> = (unit: Pick<UnitOfWork, 'audit'>) => Promise<P>;
type WorkWithBefore<P> = { before: Before<P>; run: Work<P> };

const JSON_TYPE = 'application/json; charset=utf-8';

declare module 'fastify' {
  interface FastifyInstance {
    unitsOfWork: UnitsOfWork;
  }
  interface FastifyRequest {
    /** Set once the request's audit entry and kept answer are dealt with, so the fallback hook leaves them alone. */
    unitSettled?: boolean;
  }
}

/** Runs `work` as the request's unit of work and sends its answer; see the top of this file. */
export function unitOfWork(request: FastifyRequest, reply: FastifyReply, work: Work<void>): Promise<FastifyReply>;
export function unitOfWork<P>(request: FastifyRequest, reply: FastifyReply, work: WorkWithBefore<P>): Promise<FastifyReply>;
export function unitOfWork<P>(request: FastifyRequest, reply: FastifyReply, work: Work<void> | WorkWithBefore<P>): Promise<FastifyReply> {
  const units = request.server.unitsOfWork;
  return typeof work === 'function' ? units.run(request, reply, undefined, work) : units.run(request, reply, work.before, work.run);
}

/** Thrown inside the transaction to roll it back when another request answered the key first. */
class AnsweredMeanwhile extends Error {}

/** Thrown inside the transaction to roll the work back when the claim found the key already answered. */
class AnsweredBefore extends Error {
  constructor(readonly entry: IdempotencyEntry) {
    super('the Idempotency-Key was answered before');
  }
}

/** The work failed in the message its claim travelled with, so what the claim found is not known; `cause` is the failure. */
class ClaimLost extends Error {}

/**
 * What ends a unit whose work failed: the claim's finding comes first (a replay, or 409 while another request holds
 * the key), then the work's own failure.
 */
async function claimBeforeFailure(readClaim: () => Promise<Claim>, failure: unknown): Promise<unknown> {
  try {
    const claim = await readClaim();
    return claim.answered ? new AnsweredBefore(claim.answered) : failure;
  } catch (claimError) {
    if (claimError instanceof ApiError) return claimError;
    return new ClaimLost('the claim was lost with its statement', { cause: failure });
  }
}

const inProgress = () =>
  new ApiError('CONFLICT', 'A request with this Idempotency-Key is still running. Retry shortly.', { reason: 'idempotency_in_progress' }, { 'retry-after': '1' });

/** What the claim found: an answer kept under the key, or none live (`replacing` an expired one, or none at all). */
type Claim = { answered: IdempotencyEntry; replacing?: undefined } | { answered?: undefined; replacing: boolean };

interface Settled {
  status: number;
  contentType: string;
  payload: string | Buffer;
  headers?: Record<string, string> | undefined;
}

export class UnitsOfWork {
  private readonly db: Kysely<Database>;

  constructor(
    private readonly deps: Pick<Deps, 'store' | 'now' | 'logger'>,
    private readonly idempotency: IdempotencyOptions,
  ) {
    this.db = deps.store.db;
  }

  async run<P>(request: FastifyRequest, reply: FastifyReply, before: Before<P> | undefined, work: Work<P>): Promise<FastifyReply> {
    const audit: UnitOfWork['audit'] = (target, details) => {
      request.auditTarget = target;
      if (details) request.auditDetails = { ...request.auditDetails, ...details };
    };
    let prepared = undefined as P;
    if (before) {
      // Slow work is not done again for a key that already has its answer.
      const kept = request.idempotency && (await findIdempotencyEntry(this.db, request.idempotency.scope));
      if (kept && outcomeFor(kept, request.idempotency!.fingerprint, new Date(this.deps.now())) !== 'claim') return this.answerFromKept(request, reply, kept);
      prepared = await before({ audit });
    }
    const effects: Array<() => unknown> = [];
    let settled: Settled;
    try {
      settled = await this.db.transaction().execute(async (trx) => {
        // The claim travels with the work's first statement, which throws when the claim finds the key held or
        // answered; whatever the work then does with that, the claim's finding is read again before anything is kept.
        const readClaim = await this.startClaim(trx, request, true);
        const unit: UnitOfWork = { db: trx, audit, afterCommit: (effect) => effects.push(effect) };
        let answer: Answer;
        try {
          answer = await work(unit, prepared);
        } catch (error) {
          throw await claimBeforeFailure(readClaim, error);
        }
        const claim = await readClaim();
        if (claim.answered) throw new AnsweredBefore(claim.answered);
        const status = answer.status ?? 200;
        reply.code(status);
        const payload = answer.contentType ? (answer.body as string | Buffer) : (reply.serialize(answer.body) as string);
        const outcome = { status, contentType: answer.contentType ?? JSON_TYPE, payload };
        if (!(await this.keep(trx, request, outcome, claim.replacing))) throw new AnsweredMeanwhile();
        return outcome;
      });
    } catch (failure) {
      return this.failed(request, reply, failure);
    }
    request.unitSettled = true;
    for (const effect of effects) {
      try {
        await effect();
      } catch (error) {
        request.log.error({ err: error }, 'an effect after commit failed');
      }
    }
    return this.send(reply, settled);
  }

  /** The answer to a unit whose transaction failed: a replay, a 409, a kept refusal, or the 5xx thrown on. */
  private async failed(request: FastifyRequest, reply: FastifyReply, failure: unknown): Promise<FastifyReply> {
    let error = failure;
    if (error instanceof ClaimLost) {
      // What the claim found was lost with the statement it travelled with, which failed: ask again, on its own.
      let claim: Claim | undefined;
      try {
        claim = await this.db.transaction().execute((trx) => this.claim(trx, request));
      } catch (claimError) {
        if (claimError instanceof ApiError) error = claimError;
      }
      if (claim?.answered) return this.answerFromKept(request, reply, claim.answered);
      if (error instanceof ClaimLost) error = error.cause;
    }
    if (error instanceof AnsweredBefore) return this.answerFromKept(request, reply, error.entry);
    if (error instanceof AnsweredMeanwhile) return this.answerFromKept(request, reply, await this.keptEntry(request));
    if (error instanceof ApiError && error.status < 500) return this.refuse(request, reply, error);
    // A 5xx: nothing was changed, so nothing is audited and no answer is kept; the retry runs again.
    request.unitSettled = true;
    throw error;
  }

  /**
   * The claim (see the top of this file): the answer already kept under the key, if any, or whether the answer to
   * keep replaces an expired entry; throws 409 while another transaction holds the key.
   */
  private async claim(trx: Kysely<Database>, request: FastifyRequest): Promise<Claim> {
    return (await this.startClaim(trx, request, false))();
  }

  /**
   * The claim, sent with the transaction's next statement, the work's first: with `stopsWork`, when it finds the key
   * held or answered, that statement throws (409, or the replay), so the work goes no further. The function returned
   * reads it.
   */
  private async startClaim(trx: Kysely<Database>, request: FastifyRequest, stopsWork: boolean): Promise<() => Promise<Claim>> {
    const idempotent = request.idempotency;
    if (!idempotent) return async () => ({ replacing: false });
    const verdict = ({ locked, entry }: Claimed): Claim => {
      if (!locked) throw inProgress();
      const outcome = outcomeFor(entry, idempotent.fingerprint, new Date(this.deps.now()));
      if (outcome === 'in_progress') throw inProgress();
      return outcome === 'claim' ? { replacing: entry !== undefined } : { answered: entry! };
    };
    const stopWork = (claimed: Claimed) => {
      const claim = verdict(claimed);
      if (claim.answered) throw new AnsweredBefore(claim.answered);
    };
    const read = await startClaim(trx, idempotent.scope, stopsWork ? stopWork : undefined);
    return async () => verdict(await read());
  }

  /**
   * The audit entry and the kept answer, the last statement of the caller's transaction; false when another request
   * answered the key first.
   */
  private async keep(trx: Kysely<Database>, request: FastifyRequest, outcome: Settled, replacing: boolean): Promise<boolean> {
    const action = request.routeOptions.config.audit;
    const audit = action && authenticated(request) ? auditRecordOf(request, action, outcome.status) : null;
    const idempotent = request.idempotency;
    if (!idempotent) {
      if (audit) await trx.executeQuery(endingTransaction(auditInsertQuery(trx, audit)));
      return true;
    }
    const now = this.deps.now();
    return keepAnswer(
      trx,
      {
        scope: idempotent.scope,
        fingerprint: idempotent.fingerprint,
        requestId: request.id,
        status: outcome.status,
        contentType: outcome.contentType,
        body: sealBytes(typeof outcome.payload === 'string' ? Buffer.from(outcome.payload) : outcome.payload, idempotent.sealingKey()),
        auditTarget: request.auditTarget ?? null,
        now: new Date(now),
        expiresAt: new Date(now + this.idempotency.ttlMs),
      },
      audit,
      replacing,
    );
  }

  /**
   * A refusal (a 4xx the work threw): its changes were rolled back; the refusal itself is audited and kept under
   * the key like any answer below 500, in a transaction of its own, and sent as it was kept.
   */
  private async refuse(request: FastifyRequest, reply: FastifyReply, error: ApiError): Promise<FastifyReply> {
    const refusal: Settled = {
      status: error.status,
      contentType: JSON_TYPE,
      payload: JSON.stringify(errorBody(error.code, error.message, request.id, error.details)),
      headers: error.headers,
    };
    if (error.details?.reason === 'idempotency_in_progress') {
      request.unitSettled = true;
      return this.send(reply, refusal);
    }
    let kept: IdempotencyEntry | undefined;
    try {
      kept = await this.db.transaction().execute(async (trx) => {
        const claim = await this.claim(trx, request);
        if (claim.answered) return claim.answered;
        if (!(await this.keep(trx, request, refusal, claim.replacing))) throw new AnsweredMeanwhile();
        return undefined;
      });
    } catch (failure) {
      if (failure instanceof AnsweredMeanwhile) kept = await this.keptEntry(request);
      else {
        request.unitSettled = true;
        throw failure;
      }
    }
    if (kept) return this.answerFromKept(request, reply, kept);
    request.unitSettled = true;
    return this.send(reply, refusal);
  }

  private async keptEntry(request: FastifyRequest): Promise<IdempotencyEntry> {
    const entry = await findIdempotencyEntry(this.db, request.idempotency!.scope);
    if (!entry) throw new Error('an Idempotency-Key answer was kept meanwhile but cannot be read');
    return entry;
  }

  /** A replay of the kept answer (audited as one), or 422 when the key was used with another body. */
  private async answerFromKept(request: FastifyRequest, reply: FastifyReply, entry: IdempotencyEntry): Promise<FastifyReply> {
    const idempotent = request.idempotency!;
    request.unitSettled = true;
    if (entry.fingerprint !== idempotent.fingerprint) {
      throw new ApiError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request body.');
    }
    if (entry.state !== 'done') throw inProgress();
    const action = request.routeOptions.config.audit;
    if (action) {
      if (entry.audit_target) request.auditTarget = entry.audit_target;
      request.auditDetails = { idempotentReplayOf: entry.request_id };
      await insertAuditEntry(this.db, auditRecordOf(request, action, entry.response_status ?? 200));
    }
    // The answer carries the original request's id; this line ties the replay's own id to it.
    request.log.info({ replayOf: entry.request_id }, 'idempotent replay');
    const body = entry.response_body ? openBytes(entry.response_body, idempotent.sealingKey()) : Buffer.alloc(0);
    // The kept answer is the original request's, byte for byte, so its X-Request-Id is the original's too: the one
    // an error envelope in it names (SPEC 4).
    reply.header('idempotent-replayed', 'true').header('x-request-id', entry.request_id);
    return this.send(reply, { status: entry.response_status ?? 200, contentType: entry.response_content_type ?? JSON_TYPE, payload: body });
  }

  private send(reply: FastifyReply, settled: Settled): FastifyReply {
    if (settled.headers) reply.headers(settled.headers);
    return reply.code(settled.status).type(settled.contentType).send(settled.payload);
  }

  /**
   * Answers that did not come through a unit of work: refusals before the handler (scope, rate limit), admin reads,
   * and errors thrown before a handler reached its unit. Their audit entry, and their answer under the key when
   * below 500, are written before the answer leaves, in one short transaction.
   */
  async settleOutside(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<void> {
    const action = request.routeOptions.config.audit;
    const status = reply.statusCode;
    const keepable = request.idempotency && status < 500 && (payload === null || payload === undefined || typeof payload === 'string' || Buffer.isBuffer(payload));
    if (!keepable) {
      if (action && authenticated(request)) await insertAuditEntry(this.db, auditRecordOf(request, action, status));
      return;
    }
    const contentType = reply.getHeader('content-type');
    const outcome: Settled = {
      status,
      contentType: typeof contentType === 'string' ? contentType : JSON_TYPE,
      payload: payload === null || payload === undefined ? Buffer.alloc(0) : (payload as string | Buffer),
    };
    await this.db
      .transaction()
      .execute(async (trx) => {
        // Another request holds or answered the key: this answer is not the one to keep, and the other was audited.
        const claim = await this.claim(trx, request);
        if (claim.answered) return;
        if (!(await this.keep(trx, request, outcome, claim.replacing))) throw new AnsweredMeanwhile();
      })
      .catch((error: unknown) => {
        if (!(error instanceof AnsweredMeanwhile) && !(error instanceof ApiError)) throw error;
      });
  }
}

/**
 * A request that never authenticated (no key, a wrong key, a wrong admin token) writes no audit entry: anyone could
 * write those without limit (SPEC 10.1). The refusals are counted in /metrics instead (gatehouse_auth_refusals_total).
 */
const authenticated = (request: FastifyRequest) =>
  request.principal !== undefined || request.adminActor !== undefined || request.person !== undefined || request.auditActor !== undefined;

/** Who a request's audit entries name as acting: its key, the signed-in person, or the admin actor (SPEC 13.5). */
export function auditActorOf(request: FastifyRequest): string {
  const principal = request.principal;
  return principal ? `key:${principal.apiKeyId}` : request.person ? `person:${request.person.id}` : `${request.auditActor ?? request.adminActor}`;
}

/** SPEC 10.3: who did what to which target, under which request, with which outcome. */
export function auditRecordOf(request: FastifyRequest, action: string, status: number): AuditRecord {
  const principal = request.principal;
  const target = request.auditTarget;
  const paramsId = (request.params as Record<string, unknown> | undefined)?.id;
  return {
    organizationId: target?.organizationId ?? principal?.organizationId ?? request.person?.organization_id ?? null,
    apiKeyId: principal?.apiKeyId ?? null,
    env: principal?.env ?? target?.env ?? null,
    // SPEC 13.5: what a signed-in person does is audited under that person.
    actor: auditActorOf(request),
    action,
    targetType: target?.type ?? null,
    // The path's id as sent: it reaches here unvalidated when the request was refused for it.
    targetId: target?.id ?? (typeof paramsId === 'string' ? auditedText(paramsId) : null),
    requestId: request.id,
    status,
    details: auditDetailsOf(request, action),
    clientAddress: request.ip ?? null,
  };
}

/** The unit-of-work runner every route reaches through `unitOfWork`, and the hook for answers given outside one. */
export function installUnitOfWork(app: FastifyInstance, deps: Deps, idempotency: IdempotencyOptions): void {
  const units = new UnitsOfWork(deps, idempotency);
  app.decorate('unitsOfWork', units);
  addRouteHook(app, 'onSend', (route) => {
    if (route.config?.audit) checkAuditActionName(route.method, route.url, route.config.audit);
    // Reads without an audit action pay nothing here (the hot path).
    if (!route.config?.audit && !coversIdempotency(route)) return undefined;
    return async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      if (request.unitSettled) return payload;
      request.unitSettled = true;
      try {
        await units.settleOutside(request, reply, payload);
      } catch (error) {
        request.log.error({ err: error, action: request.routeOptions.config.audit }, 'audit entry or idempotent answer could not be written');
      }
      return payload;
    };
  });
}
