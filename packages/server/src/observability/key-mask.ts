/** Replaces anything shaped like a full key with its display prefix, wherever it turns up in logged text. */
const FULL_KEY = /([a-z][a-z0-9]{1,7}_(?:live|test)_[0-9A-Z]{16})_[A-Za-z0-9_-]{20,}/g;

export function maskKeys(text: string): string {
  // Every request's log line passes through here, and almost none holds a key: two substring checks cost less than
  // running the expression over text it cannot match.
  if (!text.includes('_live_') && !text.includes('_test_')) return text;
  return text.replace(FULL_KEY, '$1_[REDACTED]');
}

/**
 * A request URL as the request log line shows it. Console URLs lose their query string: a person may paste a
 * password or a link's token where it does not belong, and nothing there is worth that risk (SPEC 13).
 */
export function loggedUrl(url: string): string {
  if (url.startsWith('/console')) {
    const query = url.indexOf('?');
    return query < 0 ? url : `${url.slice(0, query)}?[REDACTED]`;
  }
  return maskKeys(url);
}
