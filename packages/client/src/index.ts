export { Gatehouse, type GatehouseOptions, type WaitOptions } from './gatehouse.ts';
export { GatehouseAdmin, type GatehouseAdminOptions } from './admin.ts';
export { GatehouseError, isGatehouseError, type ApiErrorCode, type ClientErrorCode, type GatehouseErrorCode } from './errors.ts';
export { Paginated } from './pagination.ts';
export { DEFAULT_BASE_URL, type ClientOptions, type HttpMethod, type RequestOptions } from './transport.ts';
export * from './types.ts';
export {
  verifyWebhook,
  WebhookVerificationError,
  type VerifyWebhookOptions,
  type VerifiedWebhook,
  type WebhookEvent,
  type WebhookHeaderSource,
  type WebhookVerificationFailure,
} from './webhooks.ts';
