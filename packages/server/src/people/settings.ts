/** Tuning of the people feature (SPEC 13); anything a deployment leaves out takes these defaults. */
export interface PeopleSettings {
  /** argon2id cost (OWASP's second recommended setting: 19 MiB, 2 passes); tests lower it. */
  argon2MemoryKiB: number;
  argon2TimeCost: number;
  /** Failed sign-ins per account, and per client address, within `failureWindowMs` before 429 (SPEC 13.3). */
  signInFailuresPerAccount: number;
  signInFailuresPerAddress: number;
  failureWindowMs: number;
  /** The From of invitation and reset mail. */
  mailFrom: string;
}

export const DEFAULT_PEOPLE_SETTINGS: PeopleSettings = {
  argon2MemoryKiB: 19_456,
  argon2TimeCost: 2,
  signInFailuresPerAccount: 10,
  signInFailuresPerAddress: 100,
  failureWindowMs: 15 * 60_000,
  mailFrom: 'Gatehouse <gatehouse@localhost>',
};

/** SPEC 13.5: a session ends after 12 idle hours or 7 days, whichever comes first. */
export const SESSION_IDLE_MS = 12 * 3_600_000;
export const SESSION_ABSOLUTE_MS = 7 * 86_400_000;
/** SPEC 13.3: invitation and reset links are valid 72 hours. */
export const LINK_VALIDITY_MS = 72 * 3_600_000;
