// The CLI's flags, declared from the library's one settings table (src/settings/fields.ts) in
// kebab-case with the stage's defaults; the original's snake_case spellings are rewritten to
// kebab-case before parsing, so the original's command lines can be pasted. What a command reads
// back is a partial settings object for the library, which checks and completes it.
import { InvalidArgumentError, Option, type Command } from 'commander';

import { FIELDS, type FieldName, type FieldSpec } from '../settings/fields.js';
import { defaultOf, resolveSettings } from '../settings/resolve.js';
import { STAGES, type ResolvedSettings, type StageName } from '../settings/stages.js';

/** A commander argument parser for integers >= min. */
export function intAtLeast(min: number, name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new InvalidArgumentError(`--${name} expects an integer >= ${min}.`);
    return n;
  };
}

export function kebab(snake: string): string {
  return snake.replace(/_/g, '-');
}

/** Commander's attribute name for `--a-b-c`: aBC. */
function attributeName(flag: string): string {
  return flag.replace(/[_-]([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function parserFor(flag: string, spec: FieldSpec): ((v: string) => number | boolean | string[]) | undefined {
  if (spec.kind === 'int') {
    return (v) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isInteger(n) || (spec.min !== undefined && n < spec.min))
        throw new InvalidArgumentError(`--${flag} expects an integer${spec.min !== undefined ? ` >= ${spec.min}` : ''}.`);
      return n;
    };
  }
  if (spec.kind === 'float') {
    return (v) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || (spec.min !== undefined && n < spec.min))
        throw new InvalidArgumentError(`--${flag} expects a number${spec.min !== undefined ? ` >= ${spec.min}` : ''}.`);
      return n;
    };
  }
  if (spec.kind === 'bool' && spec.value !== undefined) {
    return (v) => {
      const s = v.toLowerCase();
      if (['true', '1', 'yes'].includes(s)) return true;
      if (['false', '0', 'no'].includes(s)) return false;
      throw new InvalidArgumentError(`--${flag} expects true or false.`);
    };
  }
  if (spec.kind === 'list') return (v) => parseModes(v);
  return undefined;
}

function render(d: unknown): string {
  return Array.isArray(d) ? d.join(',') : String(d);
}

export interface StageFlagOptions {
  /** Fields of the stage left off the command line. */
  exclude?: readonly FieldName[];
  /** Declare these required ones as mandatory options (default: the stage's required fields). */
  required?: readonly FieldName[];
}

/** Declares the stage's fields on `cmd` (kebab-case, defaults from the library), and accepts snake_case. */
export function addStageFlags(cmd: Command, stage: StageName, o: StageFlagOptions = {}): Command {
  const spec = STAGES[stage];
  const required: readonly FieldName[] = o.required ?? spec.required;
  for (const name of spec.fields) {
    if (o.exclude?.includes(name)) continue;
    const f: FieldSpec = FIELDS[name];
    const flag = kebab(f.flag);
    const isSwitch = f.kind === 'bool' && f.value === undefined;
    const d = defaultOf(stage, name);
    // The default is shown in help; the value is left to the library (undefined = its default).
    const shown = d !== undefined && !isSwitch ? ` (default: ${render(d)})` : '';
    const opt = new Option(`--${flag}${isSwitch ? '' : ` <${f.value ?? 'value'}>`}`, `${f.ours ? '(biofeg) ' : ''}${f.help}${shown}`);
    const parse = parserFor(flag, f);
    if (parse) opt.argParser(parse);
    if (f.kind === 'enum') opt.choices([...f.values!]);
    if (required.includes(name)) opt.makeOptionMandatory();
    cmd.addOption(opt);
  }
  if ((spec.fields as readonly string[]).includes('device'))
    cmd.option('--no-cuda', 'do not use a GPU even when one is available (= --device cpu)');
  acceptSnakeCase(cmd);
  return cmd;
}

/**
 * The stage's settings from the command line: the flags given (and `extra`, e.g. aliases), checked
 * and completed by the library exactly as a settings object would be.
 */
export function stageSettings<K extends StageName>(
  cmd: Command,
  stage: K,
  extra: Partial<Record<FieldName, unknown>> = {},
): ResolvedSettings[K] {
  const given = readStageFlags(cmd, stage);
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && given[k] === undefined) given[k] = v;
  return resolveSettings(stage, given);
}

/** The declared fields of the stage as given on the command line (undefined ones left out). */
export function readStageFlags(cmd: Command, stage: StageName, o: Pick<StageFlagOptions, 'exclude'> = {}): Record<string, unknown> {
  const opts = cmd.opts<Record<string, unknown>>();
  const out: Record<string, unknown> = {};
  for (const name of STAGES[stage].fields) {
    if (o.exclude?.includes(name)) continue;
    const v = opts[attributeName(kebab(FIELDS[name].flag))];
    if (v !== undefined) out[name] = v;
  }
  if (opts['cuda'] === false) out['device'] = 'cpu';
  return out;
}

/** `--mode train,valid,test` -> ['train', 'valid', 'test'] (empty items dropped). */
export function parseModes(mode: string): string[] {
  return mode
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
}

/** Minimal view of commander's Option used for the rewrite. */
interface OptionLike {
  long?: string;
  required: boolean;
  optional: boolean;
}

/**
 * Rewrite `--snake_case[=v]` to `--snake-case[=v]` when the kebab form is declared (and the
 * snake form is not). Values of value-taking options and everything after `--` are left alone.
 */
export function rewriteSnakeArgs(args: readonly string[], options: readonly OptionLike[]): string[] {
  const byLong = new Map<string, OptionLike>();
  for (const o of options) if (o.long) byLong.set(o.long, o);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (!a.startsWith('--')) {
      out.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const flag = eq < 0 ? a : a.slice(0, eq);
    let name = flag;
    if (flag.includes('_') && !byLong.has(flag) && byLong.has(kebab(flag))) name = kebab(flag);
    out.push(eq < 0 ? name : name + a.slice(eq));
    const opt = byLong.get(name);
    // A required value is taken whatever it looks like; keep it verbatim.
    if (opt && eq < 0 && opt.required && i + 1 < args.length) out.push(args[++i]!);
  }
  return out;
}

const wrapped = new WeakSet<Command>();

/** Make `cmd` accept snake_case spellings of its kebab-case options (idempotent). */
export function acceptSnakeCase(cmd: Command): Command {
  if (wrapped.has(cmd)) return cmd;
  wrapped.add(cmd);
  const original = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (args: string[]) => original(rewriteSnakeArgs(args, cmd.options as readonly OptionLike[]));
  cmd.addHelpText('after', '\nEvery option also accepts the original snake_case spelling (e.g. --data_path for --data-path).');
  return cmd;
}
