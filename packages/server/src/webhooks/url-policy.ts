import { isIP } from 'node:net';
import { isPublicAddress } from '../outbound/address-policy.ts';

/** For the developer whose receiver runs on localhost: the switch is the server's, never the partner's. */
export const PRIVATE_UPSTREAMS_HINT = 'a server for local development may allow them with GATEHOUSE_ALLOW_PRIVATE_UPSTREAMS=true';

/**
 * Why a URL cannot be a webhook endpoint, or undefined when it can. Names are checked again after resolution at
 * every attempt (safeFetch); refusing internal address literals here only gives the partner an early answer.
 */
export function webhookUrlProblem(raw: string, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  if (url.username || url.password) return 'must not carry credentials';
  if (allowPrivate) return undefined;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) && !isPublicAddress(host))) {
    return `must not point at a private, loopback or otherwise internal address (${PRIVATE_UPSTREAMS_HINT})`;
  }
  return undefined;
}
