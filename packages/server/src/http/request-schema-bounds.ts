/**
 * Request schemas are checked when a route is compiled, so a route whose input could be unbounded fails at start-up
 * instead of in production (DESIGN 2: every array and string in a schema has a bound). The same pass makes every
 * string refuse NUL, which PostgreSQL text cannot hold, and unpaired UTF-16 surrogates, which jsonb refuses (the audit
 * entry records the fields): without it such a name reaches the database and comes back as a 500.
 */

type Schema = Record<string, unknown>;

/** The keyword every string gets (validation.ts defines it), and what its issue says. */
export const TEXT_KEYWORD = 'wellFormedText';
export const TEXT_MESSAGE = 'must not contain NUL characters or unpaired surrogates';

const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNPAIRED_SURROGATES = new RegExp(UNPAIRED_SURROGATE.source, 'g');

/** Text PostgreSQL can store, as text and inside jsonb. */
export const isStorableText = (text: string): boolean => !text.includes('\u0000') && !UNPAIRED_SURROGATE.test(text);

/** `text` with each NUL and unpaired surrogate replaced by U+FFFD, for text kept although it was refused. */
export const storableText = (text: string): string =>
  text.replaceAll('\u0000', '\ufffd').replace(UNPAIRED_SURROGATES, '\ufffd');

export class UnboundedSchemaError extends Error {}

const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);
const typesOf = (schema: Schema): unknown[] => (Array.isArray(schema.type) ? schema.type : [schema.type]);
/** A value fixed by the schema needs no other bound. */
const isEnumerated = (schema: Schema) => 'const' in schema || Array.isArray(schema.enum);

/**
 * A copy of `schema` with unstorable text refused in every string; throws UnboundedSchemaError naming the first string
 * without `maxLength`, array without `maxItems`, or open object (one that takes properties it does not list) without
 * `maxProperties`. `openObjectsAllowed` is for path parameters, whose names are fixed by the route.
 */
export function boundedRequestSchema(schema: unknown, where: string, openObjectsAllowed = false): unknown {
  const visit = (node: unknown, path: string): unknown => {
    if (Array.isArray(node)) return node.map((item, index) => visit(item, `${path}[${index}]`));
    if (!isSchema(node)) return node;
    const copy: Schema = {};
    for (const [name, value] of Object.entries(node)) {
      // Keyword values that are data, not schemas.
      copy[name] = name === 'const' || name === 'enum' || name === 'default' || name === 'examples' ? value : visit(value, `${path}.${name}`);
    }
    const types = typesOf(copy);
    if (types.includes('string') && !isEnumerated(copy)) {
      if (typeof copy.maxLength !== 'number') throw new UnboundedSchemaError(`${where}: the string at ${path} has no maxLength`);
      copy[TEXT_KEYWORD] = true;
    }
    if (types.includes('array') && typeof copy.maxItems !== 'number') throw new UnboundedSchemaError(`${where}: the array at ${path} has no maxItems`);
    if (types.includes('object') && !openObjectsAllowed && copy.additionalProperties !== false && typeof copy.maxProperties !== 'number') {
      throw new UnboundedSchemaError(`${where}: the object at ${path} takes unlisted properties without maxProperties`);
    }
    return copy;
  };
  return visit(schema, '$');
}
