// JSON schemas of the HTTP API (validated by fastify's Ajv; responses serialized from them), and the
// one place that turns an Ajv error into a sentence a client can act on.
import type { FastifySchemaValidationError } from 'fastify';

export interface Limits {
  maxMentions: number;
  maxTexts: number;
  maxTextLength: number;
  maxContextChars: number;
  maxTopK: number;
}

/** Mention text: non-empty, not only whitespace, bounded. */
function textSchema(maxLength: number) {
  return { type: 'string', minLength: 1, maxLength, pattern: '\\S' } as const;
}

export function linkBodySchema(l: Limits) {
  const context = { type: 'string', maxLength: l.maxContextChars } as const;
  return {
    type: 'object',
    required: ['mentions'],
    additionalProperties: false,
    properties: {
      mentions: {
        type: 'array',
        minItems: 1,
        maxItems: l.maxMentions,
        // A string, or an object with text and optional context: if/else keeps Ajv's error on the
        // branch the value took (oneOf would report both branches).
        items: {
          if: { type: 'string' },
          // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else, a plain schema object never awaited.
          then: textSchema(l.maxTextLength),
          else: {
            type: 'object',
            required: ['text'],
            additionalProperties: false,
            properties: { text: textSchema(l.maxTextLength), left: context, right: context },
          },
        },
      },
      top_k: { type: 'integer', minimum: 1, maximum: l.maxTopK },
      // Rerank with the loaded cross-encoder (400 from the Linker when none is loaded).
      rerank: { type: 'boolean' },
    },
  } as const;
}

export function embedBodySchema(l: Limits) {
  return {
    type: 'object',
    required: ['texts'],
    additionalProperties: false,
    properties: { texts: { type: 'array', minItems: 1, maxItems: l.maxTexts, items: textSchema(l.maxTextLength) } },
  } as const;
}

const candidate = {
  type: 'object',
  required: ['id', 'name', 'score'],
  // crossScore: present only when the request asked for rerank (the order is then by it).
  properties: { id: { type: 'string' }, name: { type: 'string' }, score: { type: 'number' }, crossScore: { type: 'number' } },
} as const;

export const linkResponseSchema = {
  type: 'object',
  required: ['results'],
  properties: {
    results: {
      type: 'array',
      items: { type: 'object', required: ['candidates'], properties: { candidates: { type: 'array', items: candidate } } },
    },
  },
} as const;

export const embedResponseSchema = {
  type: 'object',
  required: ['embeddings'],
  properties: { embeddings: { type: 'array', items: { type: 'array', items: { type: 'number' } } } },
} as const;

/** `/mentions/3/text` under `body` -> `body.mentions[3].text`. */
function where(context: string, instancePath: string): string {
  let out = context;
  for (const part of instancePath.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
  }
  return out;
}

const article = (type: string): string => (type === 'integer' || type === 'object' || type === 'array' ? `an ${type}` : `a ${type}`);

/** One sentence for the first real failure (Ajv stops at the first; `if` only names the branch taken). */
export function describeValidation(errors: readonly FastifySchemaValidationError[], context: string): string {
  const e = errors.find((x) => x.keyword !== 'if') ?? errors[0];
  if (!e) return `${context} is not valid`;
  const at = where(context, e.instancePath);
  const p = e.params;
  switch (e.keyword) {
    case 'type':
      if (/^body\.mentions\[\d+\]$/.test(at)) return `${at} must be a string or an object { text, left?, right? }`;
      return `${at} must be ${article(String(p['type']))}`;
    case 'required':
      return `${at} is missing the field "${String(p['missingProperty'])}"`;
    case 'additionalProperties':
      return `${at} has an unknown field "${String(p['additionalProperty'])}"`;
    case 'minItems':
    case 'minLength':
      return `${at} must not be empty`;
    case 'maxItems':
      return `${at} has more than ${String(p['limit'])} items (this server's limit per request)`;
    case 'maxLength':
      return `${at} is longer than ${String(p['limit'])} characters (this server's limit)`;
    case 'pattern':
      return `${at} must not be blank`;
    case 'minimum':
    case 'maximum':
      return `${at} must be ${e.keyword === 'minimum' ? 'at least' : 'at most'} ${String(p['limit'])}`;
    default:
      return `${at} ${e.message ?? 'is not valid'}`;
  }
}
