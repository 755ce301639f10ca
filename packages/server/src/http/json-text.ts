/** The part of a reply sendJsonText uses: any route's reply, whatever its type provider makes of `send`. */
interface TextReply<R> {
  type(contentType: string): { send(payload: never): R };
}

/**
 * Sends an answer that is JSON text already (the usage answers, which PostgreSQL writes: see usageJsonByKey), as it
 * is. The route keeps its response schema for the OpenAPI document; the type provider types `send` with that
 * schema's object type, not with its JSON text, so this one place hands the text over as what Fastify sends as is.
 */
export function sendJsonText<R>(reply: TextReply<R>, text: string): R {
  return reply.type('application/json; charset=utf-8').send(text as never);
}
