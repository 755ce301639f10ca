export {};
export { verifyWebhook, WebhookVerificationError, type VerifyWebhookOptions, type VerifiedWebhook, type WebhookEvent } from './webhooks.ts';
