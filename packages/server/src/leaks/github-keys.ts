import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { ApiError } from '../http/errors.ts';
import { safeFetch } from '../outbound/safe-fetch.ts';

/** SPEC 15: an identifier the cache does not know sends for the document again, at most this often. */
export const KEYS_REFETCH_INTERVAL_MS = 60_000;
const FETCH_TIMEOUT_MS = 5_000;
/** GitHub's document holds a handful of keys; anything far larger is not it. */
const MAX_DOCUMENT_BYTES = 256 * 1024;
const MAX_KEYS = 100;
/** A DER ECDSA P-256 signature is at most 72 bytes (96 base64 characters); identifiers are hex digests. */
const MAX_SIGNATURE_LENGTH = 256;
const MAX_IDENTIFIER_LENGTH = 256;

/** Fetches the keys document and answers its JSON; throws when it cannot. */
export type FetchKeysDocument = (url: string) => Promise<unknown>;

/**
 * The keys URL is the operator's own configuration, not a partner's input, so any address it names may be reached
 * (a mirror inside the network, a test server on loopback). Bounded in time and size like every outbound call.
 */
const fetchWithSafeFetch: FetchKeysDocument = async (url) => {
  const response = await safeFetch(url, {
    headers: { accept: 'application/json' },
    isAddressAllowed: () => true,
    timeoutMs: FETCH_TIMEOUT_MS,
    maxBytes: MAX_DOCUMENT_BYTES,
  });
  if (!response.ok) throw new Error(`the keys document answered HTTP ${response.status}`);
  return response.json();
};

export interface GithubScanningKeysOptions {
  url: string;
  now: () => number;
  logger: Logger;
  fetchDocument?: FetchKeysDocument;
}

/** `{ "public_keys": [{ "key_identifier", "key" (PEM), "is_current" }] }` → the P-256 keys by identifier; others are skipped. */
function keysOf(document: unknown, logger: Logger): Map<string, KeyObject> {
  const entries = (document as { public_keys?: unknown } | null)?.public_keys;
  if (!Array.isArray(entries)) throw new Error('the keys document has no public_keys array');
  const keys = new Map<string, KeyObject>();
  for (const entry of entries.slice(0, MAX_KEYS) as Array<{ key_identifier?: unknown; key?: unknown }>) {
    if (typeof entry?.key_identifier !== 'string' || typeof entry.key !== 'string') continue;
    try {
      const key = createPublicKey(entry.key);
      // ECDSA P-256 is what GitHub signs with; a key of another kind could never verify a report.
      if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') keys.set(entry.key_identifier, key);
      else logger.warn({ keyIdentifier: entry.key_identifier }, 'secret scanning key skipped: not an ECDSA P-256 key');
    } catch {
      logger.warn({ keyIdentifier: entry.key_identifier }, 'secret scanning key skipped: not a PEM public key');
    }
  }
  return keys;
}

const unavailable = () => new ApiError('UNAVAILABLE', "The signing keys of GitHub's secret scanning could not be fetched. Retry later.");

/**
 * Checks the signature of a leak report (SPEC 15): base64 DER ECDSA P-256 with SHA-256 over the raw body, under the key
 * named by `Github-Public-Key-Identifier` in GitHub's keys document. The document is fetched when first needed and
 * kept; an identifier it does not name sends for it again, at most once a minute however many reports arrive (one
 * fetch at a time, shared by the reports waiting on it), so unsigned traffic cannot make this instance hammer GitHub.
 */
export class GithubScanningKeys {
  private keys = new Map<string, KeyObject>();
  private fetchedAt: number | undefined;
  /** Whether the last fetch failed: then an unknown identifier is answered 503 until the next may be made. */
  private lastFetchFailed = false;
  private pending: Promise<void> | undefined;
  /** Fetches made (tests count them). */
  fetches = 0;
  private readonly fetchDocument: FetchKeysDocument;

  constructor(private readonly options: GithubScanningKeysOptions) {
    this.fetchDocument = options.fetchDocument ?? fetchWithSafeFetch;
  }

  /**
   * true when the signature verifies under the named key; false when it is missing, malformed, wrong, or names a key
   * the document does not hold. Throws 503 UNAVAILABLE when the document could not be fetched.
   */
  async verify(identifier: string | undefined, signature: string | undefined, rawBody: Buffer): Promise<boolean> {
    if (!identifier || !signature || identifier.length > MAX_IDENTIFIER_LENGTH || signature.length > MAX_SIGNATURE_LENGTH) return false;
    const key = await this.keyFor(identifier);
    if (!key) return false;
    try {
      return verify('sha256', rawBody, { key, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
    } catch {
      // Bytes that are not a DER signature at all.
      return false;
    }
  }

  private async keyFor(identifier: string): Promise<KeyObject | undefined> {
    const known = this.keys.get(identifier);
    if (known) return known;
    const mayFetch = this.fetchedAt === undefined || this.options.now() - this.fetchedAt >= KEYS_REFETCH_INTERVAL_MS;
    if (mayFetch || this.pending) await (this.pending ??= this.refresh().finally(() => (this.pending = undefined)));
    else if (this.lastFetchFailed) throw unavailable();
    const found = this.keys.get(identifier);
    if (!found && this.lastFetchFailed) throw unavailable();
    return found;
  }

  private async refresh(): Promise<void> {
    this.fetches++;
    this.fetchedAt = this.options.now();
    try {
      this.keys = keysOf(await this.fetchDocument(this.options.url), this.options.logger);
      this.lastFetchFailed = false;
    } catch (error) {
      // The keys already held stay: a report signed with one of them is still checked.
      this.lastFetchFailed = true;
      this.options.logger.warn({ err: error }, "GitHub's secret scanning keys could not be fetched");
    }
  }
}
