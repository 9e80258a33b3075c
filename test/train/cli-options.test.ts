import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addStageFlags, parseModes, readStageFlags, rewriteSnakeArgs } from '../../src/cli/options.js';
import { defaultOf, FIELDS, resolveSettings } from '../../src/index.js';

function program(): { prog: Command; sub: Command } {
  const prog = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  const sub = prog
    .command('train-biencoder')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  addStageFlags(sub, 'trainBiencoder');
  sub.action(() => {});
  return { prog, sub };
}

describe("original flags, from the library's one settings table", () => {
  it('has the original defaults, and per-stage ones where a command differs', () => {
    expect(FIELDS.learningRate.default).toBe(3e-5);
    expect(FIELDS.seed.default).toBe(52313);
    expect(FIELDS.typeOptimization.default).toBe('all_encoder_layers');
    expect(FIELDS.modes.default).toEqual(['valid']);
    expect(FIELDS.topK.default).toBe(10);
    expect(defaultOf('evaluateBiencoder', 'topK')).toBe(64);
    expect(defaultOf('trainGan', 'learningRate')).toBe(5e-5);
    expect(defaultOf('finetune', 'learningRate')).toBe(1e-9);
  });

  it('parses a pasted original command line (snake_case, = and space forms) into the library settings', async () => {
    const { prog, sub } = program();
    await prog.parseAsync(
      [
        'train-biencoder',
        '--data_path',
        'data/medmentions/processed',
        '--output_path=models/bi',
        '--learning_rate',
        '1e-05',
        '--num_train_epochs',
        '1',
        '--train_batch_size',
        '64',
        '--eval_batch_size',
        '32',
        '--bert_model',
        'SapBERT',
        '--type_optimization',
        'all_encoder_layers',
        '--add_linear',
        '--shuffle',
        'false',
      ],
      { from: 'user' },
    );
    const f = readStageFlags(sub, 'trainBiencoder');
    expect(f).toEqual({
      dataPath: 'data/medmentions/processed',
      outputPath: 'models/bi',
      bertModel: 'SapBERT',
      learningRate: 1e-5,
      numTrainEpochs: 1,
      trainBatchSize: 64,
      evalBatchSize: 32,
      typeOptimization: 'all_encoder_layers',
      addLinear: true,
      shuffle: false,
    });
    // The library fills the rest with the original's defaults.
    expect(resolveSettings('trainBiencoder', f)).toMatchObject({
      warmupProportion: 0.1,
      gradientAccumulationSteps: 1,
      maxGradNorm: 1,
      seed: 52313,
      printInterval: 1000,
      outDim: 1,
      hard: false,
      resume: false,
      device: 'auto',
    });
  });

  it('kebab-case works the same, and mixing is fine', async () => {
    const { prog, sub } = program();
    await prog.parseAsync(
      ['train-biencoder', '--data-path', 'd', '--output-path', 'o', '--gradient-accumulation-steps', '4', '--max_grad_norm', '0.5'],
      { from: 'user' },
    );
    expect(readStageFlags(sub, 'trainBiencoder')).toEqual({
      dataPath: 'd',
      outputPath: 'o',
      gradientAccumulationSteps: 4,
      maxGradNorm: 0.5,
    });
  });

  it('--no_cuda / --no-cuda mean device cpu (commander negates a "cuda" option)', async () => {
    const parse = async (args: string[]) => {
      const prog = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
      const sub = prog.command('eval-biencoder').exitOverride();
      addStageFlags(sub, 'evaluateBiencoder');
      sub.action(() => {});
      await prog.parseAsync(['eval-biencoder', '--data-path', 'd', '--output-path', 'o', ...args], { from: 'user' });
      return readStageFlags(sub, 'evaluateBiencoder')['device'];
    };
    expect(await parse(['--no_cuda'])).toBe('cpu');
    expect(await parse(['--no-cuda'])).toBe('cpu');
    expect(await parse([])).toBe(undefined);
    expect(await parse(['--device', 'cuda'])).toBe('cuda');
  });

  it('rejects bad numbers and unknown flags with the flag named', async () => {
    const base = ['train-biencoder', '--data_path', 'd', '--output_path', 'o'];
    await expect(program().prog.parseAsync([...base, '--train_batch_size', '6.5'], { from: 'user' })).rejects.toThrow(
      /--train-batch-size expects an integer >= 1/,
    );
    await expect(program().prog.parseAsync([...base, '--learning_rate', 'fast'], { from: 'user' })).rejects.toThrow(
      /--learning-rate expects a number/,
    );
    await expect(program().prog.parseAsync([...base, '--not_a_flag'], { from: 'user' })).rejects.toThrow(/unknown option '--not_a_flag'/);
    await expect(program().prog.parseAsync(['train-biencoder', '--data_path', 'd'], { from: 'user' })).rejects.toThrow(
      /required option '--output-path <dir>' not specified/,
    );
  });

  it("help lists kebab-case only, says snake_case works, and shows the library's defaults", () => {
    const { sub } = program();
    const help = sub.helpInformation() + '';
    expect(help).toContain('--learning-rate <lr>');
    expect(help).not.toContain('--learning_rate');
    expect(help).toMatch(/--seed <n> +random seed \(default: 52313\)/);
  });
});

describe('rewriteSnakeArgs', () => {
  const opts = [
    { long: '--output-path', required: true, optional: false },
    { long: '--silent', required: false, optional: false },
    { long: '--data_dir', required: true, optional: false }, // a command that declares the snake form itself
  ];
  it('rewrites declared flags only, keeps values and everything after --', () => {
    expect(
      rewriteSnakeArgs(['--output_path', '--silent_x', '--silent', 'pos_arg', '--data_dir', 'd', '--', '--output_path'], opts),
    ).toEqual([
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
