import { Type } from '@sinclair/typebox';
import { createHash } from 'node:crypto';
import type { Deps } from '../deps.ts';
import { ApiError } from '../http/errors.ts';
import { keepRawJsonBody } from '../http/json-body.ts';
import type { App } from '../http/typed-app.ts';
import { unitOfWork } from '../http/unit-of-work.ts';
import { GithubScanningKeys } from './github-keys.ts';
import { reportLeakedKey } from './service.ts';

export const SECRET_SCANNING_HOOK = '/hooks/github/secret-scanning';
const REPORTED_BY = 'github:secret-scanning';
/** GitHub sends matches in batches; this bounds the work (a read, an HMAC, bcrypt at worst) one report can ask for. */
export const MAX_TOKENS_PER_REPORT = 1000;

const Match = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 1024, description: 'The string GitHub found; matched by the key pattern registered with GitHub.' }),
    type: Type.String({ maxLength: 200, description: 'The token type registered with GitHub.' }),
    url: Type.String({ maxLength: 2048, description: 'Where it was found.' }),
    source: Type.String({ maxLength: 200, description: 'What kind of place: content, commit, issue, …' }),
  },
  // GitHub may add fields: they are read past, not refused (a refused report would leave a real leak unreported).
  { maxProperties: 16, title: 'SecretScanningMatch' },
);
const Verdict = Type.Object(
  {
    token_hash: Type.String({ description: 'SHA-256 of the token, in hex.' }),
    token_type: Type.String(),
    label: Type.Union([Type.Literal('true_positive'), Type.Literal('false_positive')], {
      description: 'true_positive: a key of this deployment, now switched off; false_positive: anything else.',
    }),
  },
  { title: 'SecretScanningVerdict' },
);

const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

/** A report's url or source is kept in the audit log: should it ever quote the token, only the key's display prefix is kept. */
const withoutToken = (text: string, token: string, displayPrefix: string) => text.split(token).join(`${displayPrefix}_…`);

/**
 * SPEC 15: GitHub's secret scanning reports tokens matching this deployment's key pattern that it found in public
 * places. The report is signed (github-keys.ts) over its raw bytes, so this route's body is kept raw until the
 * signature is checked, and only then parsed and validated: a request without a valid signature is answered 401 before
 * anything of it is read. Every key of this deployment in it is switched off in the report's one transaction.
 */
export function registerSecretScanningHook(app: App, deps: Deps): void {
  const keysUrl = deps.config.githubSecretScanningKeysUrl;
  const keys = keysUrl ? new GithubScanningKeys({ url: keysUrl, now: deps.now, logger: deps.logger }) : undefined;

  void app.register(async (scope: App) => {
    const parseRaw = keepRawJsonBody(scope);
    scope.post(
      SECRET_SCANNING_HOOK,
      {
        config: { hook: true, errors: ['UNAUTHENTICATED', 'NOT_FOUND', 'UNAVAILABLE'] },
        schema: {
          operationId: 'reportSecretScanningMatches',
          summary: "GitHub's secret scanning reports tokens it found in public; every key of this deployment among them is killed",
          description:
            "Called by GitHub's secret scanning partner program, not by partners: no API key. The request carries `Github-Public-Key-Identifier` " +
            'and `Github-Public-Key-Signature` (base64 DER ECDSA P-256 with SHA-256 over the raw body), checked against GitHub’s keys document ' +
            '(`GATEHOUSE_GITHUB_SECRET_SCANNING_KEYS_URL`); a missing or wrong signature answers 401 and changes nothing. Each token that is a ' +
            'key of this deployment (prefix, checksum and secret) has its kill switch turned on and is audited as `key.leaked`; the answer ' +
            'labels every token. 404 while the keys URL is set to `off`.',
          tags: ['hooks'],
          body: Type.Array(Match, { maxItems: MAX_TOKENS_PER_REPORT }),
          response: { 200: Type.Array(Verdict, { maxItems: MAX_TOKENS_PER_REPORT }) },
        },
        // Unconfigured, the route is as absent; configured, the signature is checked over the raw bytes, then parsed.
        onRequest: async () => {
          if (!keys) throw new ApiError('NOT_FOUND', 'This deployment takes no secret scanning reports (GATEHOUSE_GITHUB_SECRET_SCANNING_KEYS_URL is off).');
        },
        preValidation: async (request) => {
          const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
          const { 'github-public-key-identifier': identifier, 'github-public-key-signature': signature } = request.headers;
          const signed = await keys!.verify(typeof identifier === 'string' ? identifier : undefined, typeof signature === 'string' ? signature : undefined, raw);
          if (!signed) {
            deps.metrics.authRefusals.inc({ surface: 'secret_scanning', outcome: 'unauthenticated' });
            throw new ApiError('UNAUTHENTICATED', 'The report must be signed by GitHub (Github-Public-Key-Identifier, Github-Public-Key-Signature).');
          }
          (request as { body: unknown }).body = await parseRaw(request, raw);
        },
      },
      async (request, reply) => {
        const matches = request.body;
        return unitOfWork(request, reply, {
          // Outside the transaction: reading keys by key_id and checking their secrets (bcrypt, at worst).
          // One token at a time: a batch never holds more than one connection or hashing thread.
          before: async () => {
            const found = [];
            for (const match of matches) found.push(await deps.verifier.identify(match.token));
            return found;
          },
          run: async (unit, found) => {
            for (const [index, record] of found.entries()) {
              if (!record) continue;
              const match = matches[index]!;
              const displayPrefix = `${deps.config.keyPrefix}_${record.key.env}_${record.key.key_id}`;
              await reportLeakedKey(unit, deps, record.key.id, {
                reportedBy: REPORTED_BY,
                source: withoutToken(match.source, match.token, displayPrefix),
                url: withoutToken(match.url, match.token, displayPrefix),
                requestId: request.id,
                clientAddress: request.ip,
              });
            }
            return {
              body: matches.map((match, index) => ({
                token_hash: tokenHash(match.token),
                token_type: match.type,
                label: found[index] ? ('true_positive' as const) : ('false_positive' as const),
              })),
            };
          },
        });
      },
    );
  });
}
