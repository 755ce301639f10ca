import { Ajv, type ErrorObject } from 'ajv';
import formats from 'ajv-formats';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext resolution.
const addFormats = formats as unknown as { default: (ajv: Ajv) => Ajv };
import type { FastifySchemaCompiler } from 'fastify';
import { LOCALE_FORMATS } from './locale-formats.ts';

/**
 * Bodies are validated strictly (a number is not a string, unknown fields are refused); query strings and
 * path parameters arrive as text, so they are coerced to the schema's types.
 */
function buildAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, removeAdditional: false, useDefaults: true, coerceTypes, strict: false });
  addFormats.default(ajv);
  for (const [name, { validate }] of Object.entries(LOCALE_FORMATS)) ajv.addFormat(name, { type: 'string', validate });
  return ajv;
}

const strict = buildAjv(false);
const coercing = buildAjv(true);

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strict : coercing).compile(schema as object);

export interface ValidationIssue {
  path: string;
  message: string;
}

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' };

export function issuesFrom(errors: ErrorObject[], part: string | undefined): ValidationIssue[] {
  const prefix = PART_NAMES[part ?? 'body'] ?? 'body';
  return errors.map((error) => {
    const segments = error.instancePath.split('/').filter(Boolean);
    const params = error.params as Record<string, unknown>;
    const extra = params.missingProperty ?? params.additionalProperty;
    if (typeof extra === 'string') segments.push(extra);
    const message =
      error.keyword === 'additionalProperties'
        ? 'is not a known field'
        : error.keyword === 'required'
          ? 'is required'
          : ((error.keyword === 'format' && LOCALE_FORMATS[String(params.format)]?.message) || (error.message ?? 'is not valid'));
    return { path: [prefix, ...segments].join('.'), message };
  });
}
