// Settings objects in, checked and defaulted settings out, before any work starts: every problem
// is a SettingsError naming the field (and its command-line flag).
import { SettingsError } from '../errors.js';
import { FIELDS, type FieldName, type FieldSpec } from './fields.js';
import { STAGES, type InputSettings, type ResolvedSettings, type StageName, type StageSpec } from './stages.js';

/** `topK (--top_k)`: how messages name a field, for library and CLI users alike. */
export function fieldLabel(name: FieldName): string {
  return `${name} (--${FIELDS[name].flag})`;
}

function describe(v: unknown): string {
  return v === null
    ? 'null'
    : Array.isArray(v)
      ? v.length <= 10
        ? JSON.stringify(v)
        : 'an array'
      : typeof v === 'string'
        ? JSON.stringify(v)
        : typeof v === 'object'
          ? 'an object'
          : `${typeof v} ${String(v)}`;
}

function checkValue(stage: string, name: FieldName, v: unknown): unknown {
  const spec: FieldSpec = FIELDS[name];
  const bad = (what: string): never => {
    throw new SettingsError(name, `${stage}: ${fieldLabel(name)} must be ${what}, got ${describe(v)}`);
  };
  switch (spec.kind) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) bad('an integer');
      if (spec.min !== undefined && (v as number) < spec.min) bad(`an integer >= ${spec.min}`);
      return v;
    case 'float':
      if (typeof v !== 'number' || !Number.isFinite(v)) bad('a finite number');
      if (spec.min !== undefined && (v as number) < spec.min) bad(`a number >= ${spec.min}`);
      return v;
    case 'string':
      if (typeof v !== 'string' || v === '') bad('a non-empty string');
      return v;
    case 'bool':
      if (typeof v !== 'boolean') bad('true or false');
      return v;
    case 'enum':
      if (typeof v !== 'string' || !spec.values!.includes(v)) bad(`one of ${spec.values!.join(', ')}`);
      return v;
    case 'list': {
      if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string' || x === '')) bad('a non-empty array of strings');
      const values = spec.values;
      if (values) for (const x of v as string[]) if (!values.includes(x)) bad(`an array of ${values.join(', ')}`);
      return [...(v as string[])];
    }
  }
}

/**
 * Checks `input` against the stage's fields (types, ranges, names; required ones present) and
 * fills every default. Throws {@link SettingsError} naming the first field at fault.
 */
export function resolveSettings<K extends StageName>(stage: K, input: InputSettings[K] | unknown): ResolvedSettings[K] {
  const spec: StageSpec = STAGES[stage];
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new SettingsError('(settings)', `${spec.name}: expected a settings object, got ${describe(input)}`);
  }
  const given = input as Record<string, unknown>;
  const allowed = new Set<string>(spec.fields);
  for (const k of Object.keys(given)) {
    if (!allowed.has(k)) throw new SettingsError(k, `${spec.name}: unknown setting "${k}" (expected one of ${spec.fields.join(', ')})`);
  }
  const out: Record<string, unknown> = {};
  for (const name of spec.fields) {
    const v = given[name];
    if (v !== undefined) out[name] = checkValue(spec.name, name, v);
    else {
      const d = spec.defaults?.[name] ?? (FIELDS[name] as FieldSpec).default;
      if (d !== undefined) out[name] = Array.isArray(d) ? [...(d as readonly string[])] : d;
    }
  }
  for (const name of spec.required) {
    if (out[name] === undefined) throw new SettingsError(name, `${spec.name}: ${fieldLabel(name)} is required`);
  }
  // Checked field by field above against the very table the type is written from.
  return out as ResolvedSettings[K];
}

/** The default of `field` in `stage` (the stage's own, else the table's). */
export function defaultOf(stage: StageName, field: FieldName): number | string | boolean | readonly string[] | undefined {
  const spec: StageSpec = STAGES[stage];
  return spec.defaults?.[field] ?? (FIELDS[field] as FieldSpec).default;
}
