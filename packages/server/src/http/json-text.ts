import { pipeline, Readable, Transform } from 'node:stream';

/** The part of a reply sendJsonData uses: any route's reply, whatever its type provider makes of `send`. */
interface TextReply<R> {
  type(contentType: string): { send(payload: never): R };
}

/**
 * Items per chunk of a streamed answer: some 56 KB of usage rows, small enough for the allocator to serve from memory
 * it has used before, large enough that a 31,000-row answer is a hundred-odd writes.
 */
export const ITEMS_PER_CHUNK = 256;

function* batchesOf(items: readonly string[]): Generator<readonly string[]> {
  for (let start = 0; start < items.length; start += ITEMS_PER_CHUNK) yield items.slice(start, start + ITEMS_PER_CHUNK);
}

function* dataChunks(batches: Iterable<readonly string[]>): Generator<string> {
  yield '{"data":[';
  let first = true;
  for (const batch of batches) {
    const chunk = batch.join(',');
    yield first ? chunk : `,${chunk}`;
    first = false;
  }
  yield ']}';
}

/** `{ "data": [` before the first chunk of an array's elements, `] }` after the last. */
function dataEnvelope(): Transform {
  const body = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, chunk);
    },
    flush(done) {
      done(null, ']}');
    },
  });
  body.push('{"data":[');
  return body;
}

/**
 * Sends `{ "data": [...] }` whose items are JSON text already (the usage rows, which PostgreSQL writes: see
 * usageRowsJson), without parsing or serializing them again. A large answer goes out in chunks rather than as one
 * string: each copy of a 7 MB body is memory touched for the first time (see usageRowsJson). The items may also come
 * as a stream of the array's elements' text, comma-separated, as the store sends it (streamUsageRowsText); it goes
 * out as it arrives, and the answer's end destroys it. The route keeps its response schema for the OpenAPI document;
 * the type provider types `send` with that schema's object type, so this one place hands the text over as what
 * Fastify sends as is.
 */
export function sendJsonData<R>(reply: TextReply<R>, items: readonly string[] | Readable): R {
  const typed = reply.type('application/json; charset=utf-8');
  if (items instanceof Readable) {
    const body = dataEnvelope();
    // Either end's destruction reaches the other: a client gone ends the store's read.
    pipeline(items, body, () => {});
    return typed.send(body as never);
  }
  if (items.length <= ITEMS_PER_CHUNK) return typed.send(`{"data":[${items.join(',')}]}` as never);
  return typed.send(Readable.from(dataChunks(batchesOf(items)), { objectMode: false }) as never);
}
