import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Deps } from '../deps.ts';
import { unitOfWork } from '../http/unit-of-work.ts';
import { createApiKey, prepareNewKey, prepareRoll, rollApiKey, type NewKeyInput, type RollInput } from './service.ts';

/*
 * The units of work behind issuing and rolling a key, one body for every surface that offers them (/v1, the console,
 * the admin API). The surfaces differ in who may ask for what (a key's scopes and env, a person's role, an operator),
 * which each settles in the input it passes; what happens then is the same.
 */

/**
 * Issues a key: `inputOf` runs in the unit's `before`, with the hashing, so a refusal it throws (an env a test key may
 * not ask for, an organization that does not exist) is answered, and kept under the Idempotency-Key, like any other.
 */
export function issueKeyUnit(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: Deps,
  inputOf: () => NewKeyInput | Promise<NewKeyInput>,
): Promise<FastifyReply> {
  return unitOfWork(request, reply, {
    before: async () => prepareNewKey(deps, await inputOf()),
    run: async (unit, prepared) => {
      const created = await createApiKey(unit.db, deps.config.keyPrefix, prepared);
      unit.audit({ type: 'api_key', id: created.id, organizationId: prepared.input.organizationId, env: prepared.input.env });
      return { status: 201, body: created };
    },
  });
}

/** Rolls a key (SPEC 7): the successor's secret is hashed before the transaction, the swap happens inside it. */
export function rollKeyUnit(request: FastifyRequest, reply: FastifyReply, deps: Deps, input: RollInput): Promise<FastifyReply> {
  return unitOfWork(request, reply, {
    before: (unit) => {
      unit.audit({ type: 'api_key', id: input.id, organizationId: input.organizationId });
      return prepareRoll(deps.store.db, deps, input);
    },
    run: async (unit, successor) => {
      const { created, previous } = await rollApiKey(unit, deps, input, successor);
      return { status: 201, body: { ...created, previousKey: previous } };
    },
  });
}
