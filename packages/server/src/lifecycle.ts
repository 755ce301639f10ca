/**
 * Where this instance is in its life, for a rolling restart (SPEC 11): once `draining`, /readyz answers 503 so the
 * load balancer stops sending new requests, and every response says `Connection: close`, so kept-alive connections
 * are closed between requests rather than cut in the middle of one when the listener finally closes.
 */
export class Lifecycle {
  draining = false;
}
