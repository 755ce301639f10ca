import { FailureThrottle } from '../auth/failure-throttle.ts';
import type { Config } from '../config.ts';
import type { DeploymentSecrets } from '../secrets/deployment-secret.ts';
import type { SecretSealer } from '../secrets/sealing.ts';
import { smtpMailer, type Mailer } from './mailer.ts';
import { PasswordHasher } from './passwords.ts';
import { sessionSigner, type SessionSigner } from './session-signing.ts';
import { DEFAULT_PEOPLE_SETTINGS, type PeopleSettings } from './settings.ts';

/** What the people feature keeps for the life of the process, built once in deps.ts. */
export interface PeopleRuntime {
  settings: PeopleSettings;
  /** The console's origin (scheme, host, port), which every state-changing console request's `Origin` must equal. */
  publicOrigin: string;
  publicUrl: string;
  /** `Secure` on the session cookie when the public URL is https (SPEC 13.5). */
  secureCookie: boolean;
  /**
   * Without GATEHOUSE_PUBLIC_URL, the address the server is listening on becomes the public URL: with `PORT=0` the
   * port is known only then, and links and the Origin check must name the port people actually reach.
   */
  useListeningAddress(baseUrl: string): void;
  hasher: PasswordHasher;
  /** null: no GATEHOUSE_SMTP_URL, links are shown once to whoever made them. */
  mailer: Mailer | null;
  /** Seals TOTP secrets at rest under a key derived from the deployment secret. */
  sealer: SecretSealer;
  /** Signs sessions: their stored digests and CSRF tokens, under keys of the deployment secret. */
  sessions: SessionSigner;
  /** Failed sign-ins (SPEC 13.3), in fixed windows, per account and per client address. */
  failuresByAccount: FailureThrottle;
  failuresByAddress: FailureThrottle;
  close(): void;
}

export function createPeopleRuntime(config: Config, now: () => number, secrets: DeploymentSecrets, sealer: SecretSealer, mailer?: Mailer): PeopleRuntime {
  const settings = { ...DEFAULT_PEOPLE_SETTINGS, ...config.people };
  const chosenMailer = mailer ?? (config.smtpUrl ? smtpMailer(config.smtpUrl, settings.mailFrom) : null);
  // SPEC 11's default, http://<HOST>:<PORT>, with an IPv6 address in brackets as a URL needs it.
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const addressed = (url: string) => {
    const publicUrl = url.replace(/\/+$/, '');
    return { publicUrl, publicOrigin: new URL(publicUrl).origin, secureCookie: publicUrl.startsWith('https:') };
  };
  return {
    settings,
    ...addressed(config.publicUrl ?? `http://${host}:${config.port}`),
    useListeningAddress(baseUrl) {
      if (!config.publicUrl) Object.assign(this, addressed(baseUrl));
    },
    hasher: new PasswordHasher(settings),
    mailer: chosenMailer,
    sealer,
    sessions: sessionSigner(secrets),
    failuresByAccount: new FailureThrottle(settings.signInFailuresPerAccount, now, settings.failureWindowMs),
    failuresByAddress: new FailureThrottle(settings.signInFailuresPerAddress, now, settings.failureWindowMs),
    close: () => chosenMailer?.close(),
  };
}
