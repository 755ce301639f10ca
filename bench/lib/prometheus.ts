/**
 * Reads one metric out of Prometheus text exposition: the sum of every series of `name` whose labels include
 * `labels` (so a counter split by outcome can be read whole or by one outcome). Undefined when no series matches.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const close = rest.indexOf('}');
    const labelText = rest[0] === '{' ? rest.slice(1, close) : '';
    const value = Number(rest.slice(rest[0] === '{' ? close + 1 : 0).trim().split(' ')[0]);
    const matches = Object.entries(labels).every(([key, wanted]) => labelText.includes(`${key}="${wanted}"`));
    if (matches && Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}
