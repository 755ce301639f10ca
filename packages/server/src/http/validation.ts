import { Ajv, type ErrorObject } from 'ajv';
import formats from 'ajv-formats';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext resolution.
const addFormats = formats as unknown as { default: (ajv: Ajv) => Ajv };
import type { FastifySchemaCompiler } from 'fastify';
import { LOCALE_FORMATS } from './locale-formats.ts';
import { boundedRequestSchema, isStorableText, TEXT_KEYWORD, TEXT_MESSAGE } from './request-schema-bounds.ts';

/**
 * Bodies are validated strictly (a number is not a string, unknown fields are refused); query strings and
 * path parameters arrive as text, so they are coerced to the schema's types.
 *
 * Validation stops at the first failing keyword (`allErrors` off): with every error collected, a 50,000-element
 * array of wrong items produced over a million issues, seconds of blocked event loop and a 71 MB answer.
 */
function buildAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ allErrors: false, removeAdditional: false, useDefaults: true, coerceTypes, strict: false });
  addFormats.default(ajv);
  for (const [name, { validate }] of Object.entries(LOCALE_FORMATS)) ajv.addFormat(name, { type: 'string', validate });
  ajv.addKeyword({ keyword: TEXT_KEYWORD, type: 'string', schemaType: 'boolean', errors: false, validate: (on: boolean, text: string) => !on || isStorableText(text) });
  return ajv;
}

const strict = buildAjv(false);
const coercing = buildAjv(true);

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart, method, url }) =>
  (httpPart === 'body' ? strict : coercing).compile(boundedRequestSchema(schema, `${method} ${url} ${httpPart}`, httpPart === 'params') as object);

export interface ValidationIssue {
  path: string;
  message: string;
}

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' };
/** A union's branches each add an issue; past this many the rest say nothing more, and the answer stays small. */
const MAX_ISSUES = 10;

/**
 * Folds what ajv reports about a union into one message. A value outside a union of literals (a scope, an event)
 * otherwise yields one "must be equal to constant" per allowed value plus "must match a schema in anyOf": the
 * caller gets the allowed values once instead. A union of `required` branches (one field at least) names the fields.
 */
function foldUnions(errors: ErrorObject[]): ErrorObject[] {
  const folded = new Map<ErrorObject, ErrorObject | null>();
  for (const union of errors) {
    if (union.keyword !== 'anyOf' && union.keyword !== 'oneOf') continue;
    const branches = errors.filter((error) => error !== union && error.schemaPath.startsWith(`${union.schemaPath}/`));
    for (const branch of branches) folded.set(branch, null);
    const allowed = branches.flatMap((error) => {
      const params = error.params as { allowedValue?: unknown; allowedValues?: unknown[] };
      return error.keyword === 'const' ? [params.allowedValue] : error.keyword === 'enum' ? (params.allowedValues ?? []) : [];
    });
    const kinds = new Set(branches.map((error) => error.keyword));
    if (allowed.length > 0 && [...kinds].every((kind) => kind === 'const' || kind === 'enum' || kind === 'type')) {
      folded.set(union, { ...union, message: `must be one of: ${[...new Set(allowed.map(String))].join(', ')}` });
    } else if (kinds.size === 1 && kinds.has('required')) {
      const fields = branches.map((error) => String((error.params as { missingProperty?: unknown }).missingProperty));
      folded.set(union, { ...union, message: `needs one of: ${fields.join(', ')}` });
    } else if (kinds.size === 1 && kinds.has('type')) {
      folded.set(union, { ...union, message: `must be ${branches.map((error) => String((error.params as { type?: unknown }).type)).join(' or ')}` });
    } else {
      // Mixed failures (a nullable string that is too long): what the non-null branch says is the useful part.
      for (const branch of branches) if (branch.keyword !== 'type' && branch.keyword !== 'anyOf' && branch.keyword !== 'oneOf') folded.set(branch, branch);
      folded.set(union, null);
    }
  }
  return errors.flatMap((error) => {
    const replacement = folded.has(error) ? folded.get(error) : error;
    return replacement ? [replacement] : [];
  });
}

function messageOf(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') return 'is not a known field';
  if (error.keyword === 'required') return 'is required';
  if (error.keyword === TEXT_KEYWORD) return TEXT_MESSAGE;
  if (error.keyword === 'enum') return `must be one of: ${((params.allowedValues as unknown[] | undefined) ?? []).map(String).join(', ')}`;
  if (error.keyword === 'format' && LOCALE_FORMATS[String(params.format)]?.message) return LOCALE_FORMATS[String(params.format)]!.message;
  return error.message ?? 'is not valid';
}

export function issuesFrom(errors: ErrorObject[], part: string | undefined): ValidationIssue[] {
  const prefix = PART_NAMES[part ?? 'body'] ?? 'body';
  return foldUnions(errors).slice(0, MAX_ISSUES).map((error) => {
    const segments = error.instancePath.split('/').filter(Boolean);
    const params = error.params as Record<string, unknown>;
    const extra = error.keyword === 'anyOf' || error.keyword === 'oneOf' ? undefined : (params.missingProperty ?? params.additionalProperty);
    if (typeof extra === 'string') segments.push(extra);
    return { path: [prefix, ...segments].join('.'), message: messageOf(error) };
  });
}
