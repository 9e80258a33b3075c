import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addFlags, FLAGS, parseModes, readFlags, rewriteSnakeArgs } from '../../src/cli/options.js';

const TRAIN = ['data_path', 'output_path', 'bert_model', 'learning_rate', 'num_train_epochs', 'train_batch_size', 'eval_batch_size', 'type_optimization', 'warmup_proportion', 'gradient_accumulation_steps', 'max_grad_norm', 'seed', 'print_interval', 'eval_interval', 'silent', 'add_linear', 'out_dim', 'shuffle', 'top_k', 'path_to_model', 'resume'] as const;

function program(): { prog: Command; sub: Command } {
  const prog = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  const sub = prog.command('train-biencoder').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  addFlags(sub, TRAIN, { defaults: { top_k: 64 }, required: ['output_path'] });
  sub.action(() => {});
  return { prog, sub };
}

describe('original flags', () => {
  it('has the original defaults', () => {
    expect(FLAGS.learning_rate.default).toBe(3e-5);
    expect(FLAGS.seed.default).toBe(52313);
    expect(FLAGS.type_optimization.default).toBe('all_encoder_layers');
    expect(FLAGS.mode.default).toBe('valid');
    expect(FLAGS.top_k.default).toBe(10);
  });

  it('parses a pasted original command line (snake_case, = and space forms)', async () => {
    const { prog, sub } = program();
    await prog.parseAsync(
      ['train-biencoder', '--data_path', 'data/medmentions/processed', '--output_path=models/bi', '--learning_rate', '1e-05', '--num_train_epochs', '1', '--train_batch_size', '64', '--eval_batch_size', '32', '--bert_model', 'SapBERT', '--type_optimization', 'all_encoder_layers', '--add_linear', '--shuffle', 'false'],
      { from: 'user' },
    );
    const f = readFlags(sub, TRAIN);
    expect(f).toEqual({
      data_path: 'data/medmentions/processed',
      output_path: 'models/bi',
      bert_model: 'SapBERT',
      learning_rate: 1e-5,
      num_train_epochs: 1,
      train_batch_size: 64,
      eval_batch_size: 32,
      type_optimization: 'all_encoder_layers',
      warmup_proportion: 0.1,
      gradient_accumulation_steps: 1,
      max_grad_norm: 1,
      seed: 52313,
      print_interval: 1000,
      eval_interval: 1000,
      silent: false,
      add_linear: true,
      out_dim: 1,
      shuffle: false,
      top_k: 64, // per-command default
      path_to_model: undefined,
      resume: undefined,
    });
  });

  it('kebab-case works the same, and mixing is fine', async () => {
    const { prog, sub } = program();
    await prog.parseAsync(['train-biencoder', '--output-path', 'o', '--gradient-accumulation-steps', '4', '--max_grad_norm', '0.5', '--silent'], { from: 'user' });
    expect(readFlags(sub, ['output_path', 'gradient_accumulation_steps', 'max_grad_norm', 'silent'])).toEqual({ output_path: 'o', gradient_accumulation_steps: 4, max_grad_norm: 0.5, silent: true });
  });

  it('--no_cuda / --no-cuda read as no_cuda (commander negates a "cuda" option)', async () => {
    const parse = async (args: string[]) => {
      const prog = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
      const sub = prog.command('eval-biencoder').exitOverride();
      addFlags(sub, ['output_path', 'no_cuda']);
      sub.action(() => {});
      await prog.parseAsync(['eval-biencoder', '--output-path', 'o', ...args], { from: 'user' });
      return readFlags(sub, ['no_cuda']).no_cuda;
    };
    expect(await parse(['--no_cuda'])).toBe(true);
    expect(await parse(['--no-cuda'])).toBe(true);
    expect(await parse([])).toBe(false);
  });

  it('rejects bad numbers and unknown flags with the flag named', async () => {
    await expect(program().prog.parseAsync(['train-biencoder', '--output_path', 'o', '--train_batch_size', '6.5'], { from: 'user' })).rejects.toThrow(/--train_batch_size expects an integer/);
    await expect(program().prog.parseAsync(['train-biencoder', '--output_path', 'o', '--learning_rate', 'fast'], { from: 'user' })).rejects.toThrow(/--learning_rate expects a number/);
    await expect(program().prog.parseAsync(['train-biencoder', '--output_path', 'o', '--not_a_flag'], { from: 'user' })).rejects.toThrow(/unknown option '--not_a_flag'/);
    await expect(program().prog.parseAsync(['train-biencoder'], { from: 'user' })).rejects.toThrow(/required option '--output-path <dir>' not specified/);
  });

  it('help lists kebab-case only and says snake_case works', () => {
    const { sub } = program();
    const help = sub.helpInformation() + '';
    expect(help).toContain('--learning-rate <lr>');
    expect(help).not.toContain('--learning_rate');
  });
});

describe('rewriteSnakeArgs', () => {
  const opts = [
    { long: '--output-path', required: true, optional: false },
    { long: '--silent', required: false, optional: false },
    { long: '--data_dir', required: true, optional: false }, // a command that declares the snake form itself
  ];
  it('rewrites declared flags only, keeps values and everything after --', () => {
    expect(rewriteSnakeArgs(['--output_path', '--silent_x', '--silent', 'pos_arg', '--data_dir', 'd', '--', '--output_path'], opts)).toEqual([
      '--output-path',
      '--silent_x', // taken verbatim as the value of --output-path
      '--silent',
      'pos_arg',
      '--data_dir',
      'd',
      '--',
      '--output_path',
    ]);
    expect(rewriteSnakeArgs(['--output_path=a_b', '--unknown_flag'], opts)).toEqual(['--output-path=a_b', '--unknown_flag']);
  });
  it('parseModes splits the original comma list', () => {
    expect(parseModes('train,valid, test,,test_seen')).toEqual(['train', 'valid', 'test', 'test_seen']);
  });
});
