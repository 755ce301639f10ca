import { Readable } from 'node:stream';

/** The part of a reply sendJsonData uses: any route's reply, whatever its type provider makes of `send`. */
interface TextReply<R> {
  type(contentType: string): { send(payload: never): R };
}

/**
 * Items per chunk of a streamed answer: some 56 KB of usage rows, small enough for the allocator to serve from memory
 * it has used before, large enough that a 31,000-row answer is a hundred-odd writes.
 */
const ITEMS_PER_CHUNK = 256;

function* dataChunks(items: readonly string[]): Generator<string> {
  yield '{"data":[';
  for (let start = 0; start < items.length; start += ITEMS_PER_CHUNK) {
    const chunk = items.slice(start, start + ITEMS_PER_CHUNK).join(',');
    yield start === 0 ? chunk : `,${chunk}`;
  }
  yield ']}';
}

/**
 * Sends `{ "data": [...] }` whose items are JSON text already (the usage rows, which PostgreSQL writes: see
 * usageRowsJson), without parsing or serializing them again. A large answer goes out in chunks rather than as one
 * string: each copy of a 7 MB body is memory touched for the first time (see usageRowsJson). The route keeps its
 * response schema for the OpenAPI document; the type provider types `send` with that schema's object type, so this
 * one place hands the text over as what Fastify sends as is.
 */
export function sendJsonData<R>(reply: TextReply<R>, items: readonly string[]): R {
  const typed = reply.type('application/json; charset=utf-8');
  if (items.length <= ITEMS_PER_CHUNK) return typed.send(`{"data":[${items.join(',')}]}` as never);
  return typed.send(Readable.from(dataChunks(items), { objectMode: false }) as never);
}
