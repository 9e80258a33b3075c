// onnxruntime-node peer of bench/bert.ts (encode only): the BERT that bench/peers/export_onnx.py exported
// from the PyTorch peer's model, on the CPU execution provider with intraOpNumThreads = --threads,
// interOpNumThreads 1, f32, graph optimization 'all'; the same shapes and padding as ours
// (bench/peers/shapes.ts), int64 inputs as the export takes them, the [CLS] output read back each step.
//   node --import tsx bench/peers/bert_onnx.ts --size small --model runs/onnx/bert-small.onnx --threads 2
// One size per process (peak RSS is this measurement's alone); prints one JSON object, the torch peer's shape.
import os from 'node:os';

import * as ort from 'onnxruntime-node';

import { flagValue } from '../common.js';
import { batchOf, SIZES, type Size } from './shapes.js';

const size = flagValue('size', 'tiny') as Size;
if (!Object.hasOwn(SIZES, size)) throw new Error(`--size: unknown size ${size}`);
const model = flagValue('model', '');
if (!model) throw new Error('--model <file.onnx> is required (bench/peers/export_onnx.py writes it)');
const threads = Number(flagValue('threads', String(os.cpus().length)));
const iters = Number(flagValue('iters', '5'));
const minTime = Number(flagValue('min-time', '2'));
const maxRssMiB = () => process.resourceUsage().maxRSS / 1024;

const baseRssMiB = maxRssMiB();
const session = await ort.InferenceSession.create(model, {
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const { batch, seq } = SIZES[size];
const a = batchOf(size, 1);
const feeds = {
  input_ids: new ort.Tensor('int64', BigInt64Array.from(a.ids, BigInt), [batch, seq]),
  attention_mask: new ort.Tensor('int64', BigInt64Array.from(a.mask, BigInt), [batch, seq]),
};
const step = async () => {
  const out = await session.run(feeds);
  const cls = out['cls'];
  if (!cls || cls.dims[0] !== batch) throw new Error(`${model}: no [CLS] output of ${batch} rows`);
  cls.dispose();
};

for (let i = 0; i < (size === 'base' ? 1 : 2); i++) await step();
const times: number[] = [];
const start = performance.now();
while (times.length < iters || (performance.now() - start < minTime * 1000 && times.length < 200)) {
  const t0 = performance.now();
  await step();
  times.push(performance.now() - t0);
}
const ms = [...times].sort((x, y) => x - y)[Math.floor(times.length / 2)]!;
process.stdout.write(
  `${JSON.stringify({
    size,
    phase: 'encode',
    threads,
    iters: times.length,
    msPerIter: ms,
    seqPerSec: (batch * 1000) / ms,
    peakRssMiB: maxRssMiB(),
    baseRssMiB,
    rssAfterMiB: process.memoryUsage().rss / 2 ** 20,
    onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
    model,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  })}\n`,
);
await session.release();
