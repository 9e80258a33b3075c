// The original BLINK/BioFEG flags (blink/common/params.py) with their defaults, declared for
// commander in kebab-case; snake_case spellings are rewritten to kebab-case before parsing, so
// the original's command lines can be pasted. Commands pick the flags they use.
import { InvalidArgumentError, Option, type Command } from 'commander';

type Kind = 'int' | 'float' | 'string' | 'bool' | 'switch';

interface FlagSpec {
  kind: Kind;
  /** The original's default (undefined: none). */
  default?: number | string | boolean;
  help: string;
  value?: string;
}

/**
 * Every flag by its original snake_case name. 'switch' = the original's store_true (no value);
 * 'bool' = the original's `type=bool` (takes true/false; the original turned any non-empty word,
 * even "False", into True). Flags marked "(biofeg)" are ours.
 */
export const FLAGS = {
  // add_blink_args
  silent: { kind: 'switch', help: 'no progress bars' },
  debug: { kind: 'switch', help: 'use only the first ~200 samples' },
  no_cuda: { kind: 'switch', help: 'do not use a GPU even when one is available' },
  top_k: { kind: 'int', default: 10, value: 'k', help: 'candidates retrieved per mention' },
  seed: { kind: 'int', default: 52313, value: 'n', help: 'random seed' },
  // add_model_args
  max_seq_length: { kind: 'int', default: 256, value: 'n', help: 'maximum sequence length (cross-encoder)' },
  max_context_length: { kind: 'int', default: 128, value: 'n', help: 'maximum mention context length in WordPiece tokens' },
  max_cand_length: { kind: 'int', default: 128, value: 'n', help: 'maximum entity description length in WordPiece tokens' },
  path_to_model: { kind: 'string', value: 'path', help: 'model to load (checkpoint folder or pytorch_model.bin / model.safetensors)' },
  entity_dict_path: { kind: 'string', value: 'file', help: 'entity dictionary (all_documents.json)' },
  bert_model: { kind: 'string', default: 'bert-base-uncased', value: 'dir', help: 'HF BERT folder, or a built-in size for random initialisation' },
  pull_from_layer: { kind: 'int', default: -1, value: 'n', help: 'BERT layer to pull from (-1: last)' },
  context_key: { kind: 'string', default: 'context', value: 'key', help: 'key of the mention context in the samples' },
  out_dim: { kind: 'int', default: 1, value: 'n', help: 'output size of the --add_linear projection' },
  add_linear: { kind: 'switch', help: 'add a linear projection on top of BERT (pooled output -> dropout 0.1 -> linear)' },
  data_path: { kind: 'string', default: 'data/zeshel', value: 'dir', help: 'folder of the processed data' },
  output_path: { kind: 'string', value: 'dir', help: 'output folder (models, logs, results)' },
  // add_training_args
  evaluate: { kind: 'switch', help: 'evaluate after training' },
  output_eval_file: { kind: 'string', value: 'file', help: 'file for evaluation results' },
  train_batch_size: { kind: 'int', default: 8, value: 'n', help: 'training batch size (effective; divided by --gradient_accumulation_steps per step)' },
  max_grad_norm: { kind: 'float', default: 1.0, value: 'x', help: 'gradient clipping norm' },
  learning_rate: { kind: 'float', default: 3e-5, value: 'lr', help: 'peak learning rate of AdamW' },
  num_train_epochs: { kind: 'int', default: 1, value: 'n', help: 'training epochs' },
  print_interval: { kind: 'int', default: 1000, value: 'n', help: 'log the average loss every n updates' },
  eval_interval: { kind: 'int', default: 1000, value: 'n', help: 'evaluate on val every n updates' },
  save_interval: { kind: 'int', default: 1, value: 'n', help: 'epochs between checkpoints' },
  warmup_proportion: { kind: 'float', default: 0.1, value: 'p', help: 'share of the updates with linear warmup' },
  gradient_accumulation_steps: { kind: 'int', default: 1, value: 'n', help: 'micro-batches accumulated per update' },
  type_optimization: { kind: 'string', default: 'all_encoder_layers', value: 'type', help: 'trained layers: additional_layers, top_layer, top4_layers, all_encoder_layers or all' },
  shuffle: { kind: 'bool', default: true, value: 'bool', help: 'shuffle the training data (true/false)' },
  critic_iters: { kind: 'int', default: 5, value: 'n', help: 'critic (discriminator) steps per generator step' },
  // add_eval_args
  eval_batch_size: { kind: 'int', default: 8, value: 'n', help: 'evaluation batch size' },
  mode: { kind: 'string', default: 'valid', value: 'modes', help: 'comma-separated splits: train, valid, test, test_seen, test_unseen' },
  save_topk_result: { kind: 'switch', help: 'save the top-k candidates of every mention' },
  encode_batch_size: { kind: 'int', default: 8, value: 'n', help: 'batch size for encoding entities' },
  cand_pool_path: { kind: 'string', value: 'file', help: 'cached tokenised candidate pool' },
  cand_encode_path: { kind: 'string', value: 'file', help: 'cached candidate encodings' },
  gan_path: { kind: 'string', value: 'path', help: 'GAN checkpoint (generator, discriminator, description encoder)' },
  generate_data_path: { kind: 'string', value: 'dir', help: 'folder of the generated features' },
  // (biofeg)
  resume: { kind: 'string', value: 'dir', help: '(biofeg) resume training from this checkpoint folder' },
  hard: { kind: 'switch', help: '(biofeg) train on saved top-k candidate files (hard negatives)' },
  save_every: { kind: 'int', default: 10, value: 'n', help: '(biofeg) GAN: save every n epochs' },
  start_saving: { kind: 'int', default: 20, value: 'n', help: '(biofeg) GAN: first epoch count to save at' },
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;
type Spec<N extends FlagName> = (typeof FLAGS)[N];
type BaseValue<S> = S extends { kind: 'int' | 'float' } ? number : S extends { kind: 'bool' | 'switch' } ? boolean : string;
/** Parsed value type: switches are always boolean; others are undefined when neither given nor defaulted. */
export type FlagValue<N extends FlagName> = Spec<N> extends { kind: 'switch' } ? boolean : Spec<N> extends { default: unknown } ? BaseValue<Spec<N>> : BaseValue<Spec<N>> | undefined;
export type FlagValues<N extends FlagName> = { [K in N]: FlagValue<K> };

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
function attributeName(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function parserFor(name: string, kind: Kind): ((v: string) => number | boolean) | undefined {
  if (kind === 'int') {
    return (v) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError(`--${name} expects an integer.`);
      return n;
    };
  }
  if (kind === 'float') {
    return (v) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`--${name} expects a number.`);
      return n;
    };
  }
  if (kind === 'bool') {
    return (v) => {
      const s = v.toLowerCase();
      if (['true', '1', 'yes'].includes(s)) return true;
      if (['false', '0', 'no'].includes(s)) return false;
      throw new InvalidArgumentError(`--${name} expects true or false.`);
    };
  }
  return undefined;
}

export interface AddFlagsOptions {
  /** Per-command defaults replacing the original's (say so in the command's help if it matters). */
  defaults?: Partial<Record<FlagName, number | string | boolean>>;
  /** Flags the command cannot run without (commander reports them missing). */
  required?: readonly FlagName[];
}

/** Declare `names` on `cmd` in kebab-case with the original's defaults, and accept their snake_case spelling. */
export function addFlags(cmd: Command, names: readonly FlagName[], opts: AddFlagsOptions = {}): Command {
  for (const name of names) {
    const spec: FlagSpec = FLAGS[name];
    const flag = `--${kebab(name)}` + (spec.kind === 'switch' ? '' : ` <${spec.value ?? 'value'}>`);
    const o = new Option(flag, spec.help);
    const parse = parserFor(name, spec.kind);
    if (parse) o.argParser(parse);
    const dflt = opts.defaults?.[name] ?? spec.default;
    if (dflt !== undefined && spec.kind !== 'switch') o.default(dflt);
    if (opts.required?.includes(name)) o.makeOptionMandatory();
    cmd.addOption(o);
  }
  acceptSnakeCase(cmd);
  return cmd;
}

/** Read the declared flags back under their snake_case names, typed. */
export function readFlags<N extends FlagName>(cmd: Command, names: readonly N[]): FlagValues<N> {
  const o = cmd.opts<Record<string, unknown>>();
  const out: Record<string, unknown> = {};
  for (const n of names) {
    // commander reads `--no-x` as the negation of an option `x`: the value lands in o.x (false).
    const negated = n.startsWith('no_') && FLAGS[n].kind === 'switch' ? o[attributeName(n.slice(3))] === false : false;
    const v = o[attributeName(n)];
    out[n] = FLAGS[n].kind === 'switch' ? v === true || negated : v;
  }
  return out as FlagValues<N>;
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

/** `--mode train,valid,test` -> ['train', 'valid', 'test'] (empty items dropped). */
export function parseModes(mode: string): string[] {
  return mode.split(',').map((m) => m.trim()).filter((m) => m !== '');
}
