// `biofeg train-gan` and the GAN trainer on a small subset of the built-in dataset with a tiny
// random bi-encoder (0 epochs of training, saved as a checkpoint): checkpoints and logs, the
// precomputed real features equal to recomputed ones, E's update under the original's semantics
// (decay only), checkpoint rejection, the NaN guard, interrupt and resume.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { register } from '../src/cli/commands/train-gan.js';
import { openDescriptionEncoder } from '../src/stages/train-gan.js';
import { TokenCache } from '../src/data/token-cache.js';
import { Gan } from '../src/models/gan.js';
import { openBiEncoder, saveBiEncoder } from '../src/train/biencoder-checkpoint.js';
import { readBatch, type BiencoderData } from '../src/train/biencoder-data.js';
import {
  readTorchCheckpoint,
  readTorchSave,
  torchDict,
  writeTorchSave,
  type HostTensor,
  type TorchLoaded,
} from '../src/checkpoint/index.js';
import { biencoderHash, loadGan, readGanFile } from '../src/train/gan-checkpoint.js';
import { generateFeatures, gatherRows } from '../src/train/gan-features.js';
import { NonFiniteLossError } from '../src/train/guard.js';
import { InterruptedError, InterruptFlag } from '../src/train/interrupt.js';
import { JsonlLogger } from '../src/train/jsonl-log.js';
import { GanTrainer, trainGan, type GanTrainSettings } from '../src/train/train-gan.js';
import { WEIGHT_DECAY } from '../src/train/param-groups.js';
import { VOCAB, caches, cleanup, smallDataset, tmp } from './eval/retrieve-helpers.js';
import { runCli } from './support/cli.js';

let data: Awaited<ReturnType<typeof smallDataset>>;
let ckDir: string;
let train: BiencoderData, val: BiencoderData;
const VOCAB_SIZE = readFileSync(VOCAB, 'utf8')
  .split('\n')
  .filter((l) => l !== '').length;

const settings = (o: Partial<GanTrainSettings> = {}): GanTrainSettings => ({
  learningRate: 5e-5,
  numTrainEpochs: 1,
  trainBatchSize: 8,
  evalBatchSize: 4,
  criticIters: 2,
  typeOptimization: 'all_encoder_layers',
  seed: 7,
  saveEvery: 1,
  startSaving: 1,
  shuffle: true,
  mseWeight: 0,
  condGrad: 'original',
  ...o,
});

const openBi = (seed = 3, size = 'tiny') =>
  openBiEncoder({ device: 'cpu', bertModel: size, vocabSize: VOCAB_SIZE, seed, maxPositions: 160 });
const newGan = (featDim: number, seed = 5) => {
  const enc = openDescriptionEncoder('tiny', { device: 'cpu', vocabSize: VOCAB_SIZE, seed, addLinear: false, outDim: 1 });
  const gan = new Gan(enc, featDim, 'cpu');
  gan.initMlps(seed);
  return gan;
};

beforeAll(async () => {
  data = await smallDataset({ train: 20, val: 8, test: 4 });
  ckDir = tmp('biofeg-gan-bi-');
  const { model, settings: st } = openBi();
  await saveBiEncoder(ckDir, model, { settings: st, vocabPath: VOCAB, lowercase: true });
  const tr = await caches(data.processed, data.entities, 'train');
  const va = await caches(data.processed, data.entities, 'val');
  train = { mentions: tr.mentions, entities: tr.entities };
  val = { mentions: va.mentions, entities: va.entities };
}, 120_000);
afterAll(cleanup);

const cli = (args: string[]) => runCli(register, 'train-gan', args);

const events = (out: string) =>
  readFileSync(join(out, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('biofeg train-gan', () => {
  it('trains from the original flags, logs each epoch and writes loadable checkpoints', async () => {
    const out = tmp('biofeg-gan-out-');
    const { stdout } = await cli([
      '--data_path',
      data.processed,
      '--output_path',
      out,
      '--path_to_model',
      ckDir,
      '--bert_model',
      'tiny',
      '--entity_dict_path',
      data.entities,
      '--num_train_epochs',
      '2',
      '--save_every',
      '1',
      '--start_saving',
      '2',
      '--train_batch_size',
      '8',
      '--eval_batch_size',
      '4',
      '--critic_iters',
      '2',
      '--max_context_length',
      '32',
      '--max_cand_length',
      '48',
      '--silent',
      '--no_cuda',
      '--threads',
      '2',
    ]);
    expect(stdout).toMatch(/Eval accuracy: \d\.\d{5} \(before training\)/);
    expect(stdout).toMatch(/Epoch 1: disc loss -?\d+\.\d+ - gen loss -?\d+\.\d+ mse loss: \d+\.\d+/);
    // start_saving 2, save_every 1: epoch index 1 only (epoch+1 >= 2).
    expect(existsSync(join(out, 'epoch_0'))).toBe(false);
    // One torch.save file, as the original: {generator, discriminator, entity_embedding} + our 'biofeg' entry.
    expect(statSync(join(out, 'epoch_1')).isFile()).toBe(true);
    const root = readTorchSave(join(out, 'epoch_1')) as Map<string, TorchLoaded>;
    expect([...root.keys()]).toEqual(['generator', 'discriminator', 'entity_embedding', 'biofeg']);
    for (const k of ['generator', 'discriminator'])
      expect([...(root.get(k) as Map<string, unknown>).keys()]).toEqual(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    const e = [...(root.get('entity_embedding') as Map<string, unknown>).keys()];
    expect(e[0]).toBe('cand_encoder.bert_model.embeddings.word_embeddings.weight');
    expect(e).toContain('cand_encoder.bert_model.encoder.layer.0.attention.self.query.weight');
    expect(e).toContain('cand_encoder.bert_model.pooler.dense.weight');
    expect(e.every((n) => n.startsWith('cand_encoder.bert_model.'))).toBe(true);
    const gf = readGanFile(join(out, 'epoch_1'));
    expect(gf.meta).toMatchObject({ format: 'biofeg-gan', epoch: 1, biencoder: { embedDim: 128, hiddenSize: 128 } });
    expect(gf.trainerState).toMatchObject({ epoch: 2, batch: 0 });
    expect([...gf.optimizer!.steps.keys()]).toEqual(['discriminator', 'generator']);
    const ev = events(out);
    expect(ev.filter((e) => e['event'] === 'epoch').map((e) => e['epoch'])).toEqual([0, 1]);
    expect(ev.find((e) => e['event'] === 'eval')!['epoch']).toBe(-1);
    for (const e of ev.filter((x) => x['event'] === 'epoch'))
      for (const k of ['disc', 'gen', 'mse', 'accuracy']) expect(Number.isFinite(e[k])).toBe(true);

    // Loadable with the same bi-encoder; features for a list of entities in one call.
    const bi = openBiEncoder({ device: 'cpu', pathToModel: ckDir }).model;
    const { gan, meta } = loadGan(join(out, 'epoch_1'), 'cpu', { biencoder: { hash: biencoderHash(bi), embedDim: bi.embedDim } });
    expect(meta.dims).toEqual({ featDim: 128, condDim: 128, noiseDim: 128, hiddenDim: 128 });
    const ents = new TokenCache(join(data.processed, 'cache', 'entities.48.tokens'));
    const feats = await generateFeatures(gan, ents, [0, 5, 9, 2, 7], { batchSize: 2, seed: 1 });
    expect(feats.length).toBe(5 * 128);
    expect(feats.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
  }, 120_000);

  it('rejects a GAN checkpoint with another bi-encoder or another hidden size', async () => {
    const out = tmp('biofeg-gan-rej-');
    const log = new JsonlLogger(out);
    const bi = openBi().model;
    await trainGan({ biencoder: bi, gan: newGan(bi.embedDim), train, val, outputPath: out }, settings({ criticIters: 1 }), { log });
    log.close();
    const other = openBi(99).model;
    expect(() => loadGan(join(out, 'epoch_0'), 'cpu', { biencoder: { hash: biencoderHash(other), embedDim: other.embedDim } })).toThrow(
      /trained with bi-encoder sha256:.*pass the same --path_to_model/,
    );
    const small = openBi(3, 'small').model;
    expect(() => loadGan(join(out, 'epoch_0'), 'cpu', { biencoder: { hash: biencoderHash(small), embedDim: small.embedDim } })).toThrow(
      /features of size 128 .* embeddings have size 256/,
    );
    expect(() => loadGan(join(out, 'epoch_0'), 'cpu', { biencoder: { hash: biencoderHash(bi), embedDim: bi.embedDim } })).not.toThrow();
    // Not a GAN file: a bi-encoder's pytorch_model.bin, and a folder (the old layout).
    expect(() => loadGan(join(ckDir, 'pytorch_model.bin'), 'cpu')).toThrow(
      /not a GAN checkpoint \(no generator, discriminator, entity_embedding state_dict\)/,
    );
    const folder = join(out, 'epoch_9');
    mkdirSync(folder);
    expect(() => loadGan(folder, 'cpu')).toThrow(/a folder, not a GAN checkpoint file/);
    // --resume with another bi-encoder is refused as well.
    const log2 = new JsonlLogger(out);
    await expect(
      trainGan(
        { biencoder: other, gan: newGan(other.embedDim), train, val, outputPath: out, resume: true },
        settings({ numTrainEpochs: 2, criticIters: 1 }),
        { log: log2 },
      ),
    ).rejects.toThrow(/trained with bi-encoder/);
    log2.close();
  }, 120_000);
});

describe('GAN trainer', () => {
  it('real features computed once equal the frozen encoder recomputed per batch', async () => {
    const bi = openBi().model;
    const t = new GanTrainer({ biencoder: bi, gan: newGan(bi.embedDim), train, val, outputPath: tmp('biofeg-gan-x-') }, settings());
    await t.precompute();
    const idx = [13, 2, 7, 19, 0];
    const got = t.ws.get('test.real', 'f32', [idx.length, bi.embedDim]);
    gatherRows(t.ws, t.real!, idx, got);
    const want = (await bi.encode('context', readBatch(train, idx).ctx, false)).download() as Float32Array;
    const g = got.download() as Float32Array;
    let err = 0;
    for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(g[i]! - want[i]!));
    expect(err).toBeLessThan(1e-5);
    const cand = (await bi.encode('candidate', readBatch(val, [3, 1]).cand, false)).download() as Float32Array;
    const vc = t.ws.get('test.cand', 'f32', [2, bi.embedDim]);
    gatherRows(t.ws, t.valCand!, [3, 1], vc);
    expect(Math.max(...(vc.download() as Float32Array).map((v, i) => Math.abs(v - cand[i]!)))).toBeLessThan(1e-5);
    t.dispose();
  }, 60_000);

  it("original semantics: E's update is the weight decay of its trained, decayed tensors only", async () => {
    const bi = openBi().model;
    const gan = newGan(bi.embedDim);
    const before = gan.encoder.bert.parameters().download() as Float32Array;
    const s = settings({ criticIters: 3, learningRate: 1e-2 });
    const t = new GanTrainer({ biencoder: bi, gan, train, val, outputPath: tmp('biofeg-gan-x-') }, s);
    await t.precompute();
    const r = await t.step(Int32Array.from([0, 1, 2, 3]), 0, 0);
    expect(r.disc.length).toBe(3);
    const after = gan.encoder.bert.parameters().download() as Float32Array;
    const f = Math.fround(1 - s.learningRate * WEIGHT_DECAY);
    for (const e of gan.encoder.bert.layout) {
      const decayed = e.name.startsWith('encoder.layer') && !e.name.includes('bias');
      for (const i of [e.offset, e.offset + 1]) {
        const want = decayed ? Math.fround(Math.fround(Math.fround(before[i]! * f) * f) * f) : before[i]!;
        expect(after[i]).toBe(want);
      }
    }
    t.dispose();
  }, 60_000);

  it("condGrad 'critic': the critic loss trains E through D's condition", async () => {
    const bi = openBi().model;
    const gan = newGan(bi.embedDim);
    const emb = gan.encoder.bert.layout.find((e) => e.name === 'encoder.layer.0.attention.self.query.bias')!;
    const before = (gan.encoder.bert.parameters().download() as Float32Array).slice(emb.offset, emb.offset + 8);
    const t = new GanTrainer(
      { biencoder: bi, gan, train, val, outputPath: tmp('biofeg-gan-x-') },
      settings({ condGrad: 'critic', learningRate: 1e-3 }),
    );
    await t.precompute();
    await t.step(Int32Array.from([4, 5, 6, 7]), 0, 0);
    const after = (gan.encoder.bert.parameters().download() as Float32Array).slice(emb.offset, emb.offset + 8);
    // A bias is never decayed: any change comes from the gradient.
    expect(after.some((v, i) => v !== before[i])).toBe(true);
    expect(Object.keys(t.optimizers)).toEqual(['discriminator', 'generator', 'encoder']);
    t.dispose();
  }, 60_000);

  it('stops on a non-finite loss with a clear message and keeps the last good checkpoint', async () => {
    const out = tmp('biofeg-gan-nan-');
    const bi = openBi().model;
    const gan = newGan(bi.embedDim);
    let log = new JsonlLogger(out);
    await trainGan({ biencoder: bi, gan, train, val, outputPath: out }, settings({ criticIters: 1 }), { log });
    log.close();
    const good = readFileSync(join(out, 'epoch_0'));
    const p = gan.discriminator.mlp.params.download() as Float32Array;
    p[p.length - 1] = Number.NaN; // fc2.bias
    gan.discriminator.mlp.params.upload(p);
    log = new JsonlLogger(out);
    const lines: string[] = [];
    await expect(
      trainGan({ biencoder: bi, gan, train, val, outputPath: out }, settings({ numTrainEpochs: 2, criticIters: 1 }), {
        log,
        say: (l) => lines.push(l),
      }),
    ).rejects.toThrow(NonFiniteLossError);
    log.close();
    expect(lines.join('\n')).toMatch(/critic loss is NaN at step 0 \(epoch 0, batch 0, critic step 0\): training stopped/);
    expect(readFileSync(join(out, 'epoch_0')).equals(good)).toBe(true);
    expect(events(out).some((e) => e['event'] === 'error' && e['kind'] === 'non-finite')).toBe(true);
  }, 60_000);

  it('an interrupt writes the file last and --resume finishes the run from there', async () => {
    const out = tmp('biofeg-gan-int-');
    const bi = openBi().model;
    const interrupt = new InterruptFlag({ notify: () => {} });
    interrupt.raise('SIGINT');
    let log = new JsonlLogger(out);
    const s = settings({ numTrainEpochs: 2, criticIters: 1, startSaving: 2 });
    await expect(trainGan({ biencoder: bi, gan: newGan(bi.embedDim), train, val, outputPath: out }, s, { log, interrupt })).rejects.toThrow(
      InterruptedError,
    );
    log.close();
    expect(readGanFile(join(out, 'last')).trainerState).toMatchObject({ epoch: 0, batch: 1 });
    log = new JsonlLogger(out);
    const r = await trainGan({ biencoder: bi, gan: newGan(bi.embedDim, 11), train, val, outputPath: out, resume: true }, s, { log });
    log.close();
    expect(r.epochs.map((e) => e.epoch)).toEqual([0, 1]);
    expect(statSync(join(out, 'epoch_1')).isFile()).toBe(true);
    expect(events(out).some((e) => e['event'] === 'resume')).toBe(true);
  }, 60_000);
});

describe('torch.save files of dicts (the GAN checkpoint container)', () => {
  it('round-trips nested dicts, OrderedDict state_dicts, str / int / float / bool / None and tensors', () => {
    const file = join(tmp('biofeg-torchsave-'), 'epoch_3');
    const w = { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-8, -0]) };
    writeTorchSave(
      file,
      torchDict([
        [
          'generator',
          torchDict(
            [
              ['fc1.weight', w],
              ['fc1.bias', { shape: [2], data: Int32Array.from([7, -9]) }],
            ],
            'OrderedDict',
          ),
        ],
        [
          'extra',
          torchDict([
            ['s', 'é"\\n'],
            ['i', 123456789012],
            ['f', 0.1],
            ['t', true],
            ['n', null],
            ['empty', torchDict([])],
          ]),
        ],
      ]),
    );
    const root = readTorchSave(file) as Map<string, TorchLoaded>;
    const g = root.get('generator') as Map<string, HostTensor>;
    expect([...g.keys()]).toEqual(['fc1.weight', 'fc1.bias']);
    expect(g.get('fc1.weight')!.shape).toEqual([2, 3]);
    expect(Array.from(g.get('fc1.weight')!.data)).toEqual(Array.from(w.data));
    expect(Array.from(g.get('fc1.bias')!.data)).toEqual([7, -9]);
    const x = root.get('extra') as Map<string, TorchLoaded>;
    expect([...x.entries()].filter(([k]) => k !== 'empty')).toEqual([
      ['s', 'é"\\n'],
      ['i', 123456789012],
      ['f', 0.1],
      ['t', true],
      ['n', null],
    ]);
    expect((x.get('empty') as Map<string, TorchLoaded>).size).toBe(0);
    // A state_dict reader refuses it (not a flat dict of tensors), naming the entry.
    expect(() => readTorchCheckpoint(file)).toThrow(/state_dict entry "generator" is a/);
  });
});
