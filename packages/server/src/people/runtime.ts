import { FailureThrottle } from '../auth/failure-throttle.ts';
import type { Config } from '../config.ts';
import type { SecretSealer } from '../secrets/sealing.ts';
import { smtpMailer, type Mailer } from './mailer.ts';
import { PasswordHasher } from './passwords.ts';
import { DEFAULT_PEOPLE_SETTINGS, type PeopleSettings } from './settings.ts';

/** What the people feature keeps for the life of the process, built once in deps.ts. */
export interface PeopleRuntime {
  settings: PeopleSettings;
  /** The console's origin (scheme, host, port), which every state-changing console request's `Origin` must equal. */
  publicOrigin: string;
  publicUrl: string;
  /** `Secure` on the session cookie when the public URL is https (SPEC 13.5). */
  secureCookie: boolean;
  hasher: PasswordHasher;
  /** null: no GATEHOUSE_SMTP_URL, links are shown once to whoever made them. */
  mailer: Mailer | null;
  /** Seals TOTP secrets at rest under a key derived from the deployment secret. */
  sealer: SecretSealer;
  /** Failed sign-ins (SPEC 13.3), in fixed windows, per account and per client address. */
  failuresByAccount: FailureThrottle;
  failuresByAddress: FailureThrottle;
  close(): void;
}

export function createPeopleRuntime(config: Config, now: () => number, sealer: SecretSealer, mailer?: Mailer): PeopleRuntime {
  const settings = { ...DEFAULT_PEOPLE_SETTINGS, ...config.people };
  const publicUrl = (config.publicUrl ?? `http://${config.host}:${config.port}`).replace(/\/+$/, '');
  const chosenMailer = mailer ?? (config.smtpUrl ? smtpMailer(config.smtpUrl, settings.mailFrom) : null);
  return {
    settings,
    publicOrigin: new URL(publicUrl).origin,
    publicUrl,
    secureCookie: publicUrl.startsWith('https:'),
    hasher: new PasswordHasher(settings),
    mailer: chosenMailer,
    sealer,
    failuresByAccount: new FailureThrottle(settings.signInFailuresPerAccount, now, settings.failureWindowMs),
    failuresByAddress: new FailureThrottle(settings.signInFailuresPerAddress, now, settings.failureWindowMs),
    close: () => chosenMailer?.close(),
  };
}
