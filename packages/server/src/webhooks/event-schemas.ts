import { Type, type TSchema } from '@sinclair/typebox';
import { ResourceEnv, Uuid } from '../http/schemas.ts';
import { JOB_EVENT_TYPES, KEY_EVENT_TYPES, TEST_EVENT_TYPE } from './events.ts';

/**
 * The bodies Gatehouse POSTs to webhook endpoints, as the OpenAPI document's `webhooks` (3.1) shows them, so a
 * generated client types what its receiver gets. They describe what events.ts and lifecycle-events.ts write; the
 * lifecycle test checks the bodies it receives against them.
 */

const DateTime = Type.String({ format: 'date-time' });
const NullableDateTime = Type.Union([DateTime, Type.Null()]);
const literals = (values: readonly string[]) => Type.Union(values.map((value) => Type.Literal(value)));

/** A key in an event: ids and the display prefix (lifecycle-events.ts keyEventSubject), never a secret. */
export const KeyEventKeySchema = Type.Object(
  {
    id: Uuid,
    keyId: Type.String(),
    displayPrefix: Type.String(),
    organizationId: Uuid,
    name: Type.String(),
    env: ResourceEnv,
    status: literals(['active', 'revoked']),
    killSwitch: Type.Boolean(),
    expiresAt: NullableDateTime,
    createdAt: DateTime,
    revokedAt: NullableDateTime,
  },
  { title: 'KeyEventKey', additionalProperties: false },
);

const envelope = (type: TSchema, data: TSchema, title: string) => Type.Object({ type, timestamp: DateTime, data }, { title, additionalProperties: false });

export const KeyEventSchema = envelope(
  literals(KEY_EVENT_TYPES),
  Type.Object(
    {
      env: ResourceEnv,
      organizationId: Uuid,
      apiKey: KeyEventKeySchema,
      previousKey: Type.Optional(KeyEventKeySchema),
      hoursBefore: Type.Optional(Type.Union([Type.Literal(24), Type.Literal(1)])),
      url: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      source: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
  'KeyEvent',
);

export const CreditsLowEventSchema = envelope(
  Type.Literal('credits.low'),
  Type.Object(
    { env: Type.Literal('live'), organizationId: Uuid, creditBalance: Type.Integer(), lowCreditThreshold: Type.Integer() },
    { additionalProperties: false },
  ),
  'CreditsLowEvent',
);

export const AccessChangedEventSchema = envelope(
  Type.Literal('organization.access_changed'),
  Type.Object({ env: ResourceEnv, organizationId: Uuid, apiAccessRevoked: Type.Boolean() }, { additionalProperties: false }),
  'AccessChangedEvent',
);

const JobEventSchema = envelope(literals(JOB_EVENT_TYPES), Type.Unsafe({ $ref: '#/components/schemas/Job' }), 'JobEvent');
const TestPingSchema = envelope(
  Type.Literal(TEST_EVENT_TYPE),
  Type.Object({ webhookEndpointId: Uuid, env: ResourceEnv, message: Type.String() }),
  'TestPingEvent',
);

const SENT: Array<[string, string, TSchema]> = [
  ...JOB_EVENT_TYPES.map((type): [string, string, TSchema] => [type, `A job ended ${type.replace('job.', '')}`, JobEventSchema]),
  ...KEY_EVENT_TYPES.map((type): [string, string, TSchema] => [type, `Key lifecycle: ${type}`, KeyEventSchema]),
  ['credits.low', "The balance fell below the organization's lowCreditThreshold (once per crossing; live endpoints only)", CreditsLowEventSchema],
  ['organization.access_changed', "An operator flipped the organization's apiAccessRevoked (sent to both envs' endpoints)", AccessChangedEventSchema],
  [TEST_EVENT_TYPE, 'POST /v1/webhook-endpoints/{id}/test', TestPingSchema],
];

/** OpenAPI 3.1 `webhooks`: one signed POST per event type. */
export function webhookOperations(): Record<string, unknown> {
  return Object.fromEntries(
    SENT.map(([type, summary, schema]) => [
      type,
      {
        post: {
          summary,
          description: 'Signed the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature); verifyWebhook in @gatehouse/client checks it.',
          requestBody: { required: true, content: { 'application/json': { schema } } },
          responses: { '2XX': { description: 'Received; any other answer is retried with backoff' } },
        },
      },
    ]),
  );
}
