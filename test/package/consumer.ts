// A project that uses biofeg as an installed dependency: scripts/pack-check.sh copies this file and
// tsconfig.json into a fresh folder, installs the packed tarball there, type-checks this file
// against the shipped .d.ts (strict, NodeNext) and runs it. It trains a tiny bi-encoder for one
// epoch on the built-in dataset, encodes a few texts and evaluates; every result is checked, and
// any failure exits non-zero.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BiofegError, builtinData, evaluateBiencoder, info, loadBert, prepare, trainBiencoder, type ProgressEvent } from 'biofeg';

const failures: string[] = [];
function check(ok: boolean, what: string): void {
  if (!ok) failures.push(what);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
}

const tmp = mkdtempSync(join(tmpdir(), 'biofeg-consumer-'));
const started = Date.now();
try {
  console.log('engine:', JSON.stringify(await info()));
  check(
    existsSync(builtinData.dir) && existsSync(builtinData.entityDictPath) && existsSync(builtinData.vocabPath),
    'builtinData paths exist in the installed package',
  );

  const prep = await prepare({ dataDir: builtinData.dir, outDir: join(tmp, 'processed') });
  check(prep.outDir === join(tmp, 'processed') && existsSync(prep.outDir), `prepare wrote ${prep.outDir}`);

  const settings = {
    dataPath: join(tmp, 'processed'),
    outputPath: join(tmp, 'model'),
    entityDictPath: builtinData.entityDictPath,
    bertModel: 'tiny',
    maxContextLength: 32,
    maxCandLength: 32,
    numTrainEpochs: 1,
    trainBatchSize: 32,
    learningRate: 5e-4,
    typeOptimization: 'all',
    dropout: 0,
    device: 'cpu',
    threads: 2,
  } as const;

  // A bad settings object rejects with a typed error before any work.
  try {
    await trainBiencoder({ ...settings, trainBatchSize: 'big' as unknown as number });
    check(false, 'trainBatchSize "big" is rejected');
  } catch (e) {
    check(
      e instanceof BiofegError && typeof e.code === 'string',
      `trainBatchSize "big" rejects with a BiofegError (${e instanceof BiofegError ? e.code : String(e)})`,
    );
  }

  const events: Record<string, number> = {};
  const trained = await trainBiencoder(settings, {
    onProgress: (e: ProgressEvent) => {
      events[e.type] = (events[e.type] ?? 0) + 1;
    },
  });
  check(trained.outputPath === join(tmp, 'model') && existsSync(trained.outputPath), 'trainBiencoder wrote the model folder');
  // In-batch accuracy on val before training, then after the one epoch.
  check(
    trained.accuracies.length === 2 && trained.accuracies.every((a) => a >= 0 && a <= 1),
    `val in-batch accuracy before/after the epoch: ${trained.accuracies.map((a) => a.toFixed(4)).join(' -> ')}`,
  );
  check(
    trained.steps > 0 && trained.seconds > 0 && trained.bestEpoch >= 0,
    `${trained.steps} steps in ${trained.seconds.toFixed(1)} s, best epoch ${trained.bestEpoch}`,
  );
  check((events['progress'] ?? 0) > 0, `progress events: ${JSON.stringify(events)}`);

  const bert = await loadBert(trained.outputPath, { side: 'context', device: 'cpu' });
  const texts = ['type 2 diabetes', 'breast cancer', 'BRCA1'];
  const v: Float32Array = await bert.encode(texts);
  check(bert.hiddenSize > 0 && v.length === texts.length * bert.hiddenSize, `encode: ${texts.length} x ${bert.hiddenSize}`);
  check(v.every((x) => Number.isFinite(x)) && v.some((x) => x !== 0), 'encodings are finite and not all zero');
  await bert.dispose();

  const ev = await evaluateBiencoder({
    dataPath: join(tmp, 'processed'),
    outputPath: join(tmp, 'eval'),
    pathToModel: trained.outputPath,
    entityDictPath: builtinData.entityDictPath,
    modes: ['test'],
    topK: 8,
    maxContextLength: 32,
    maxCandLength: 32,
    device: 'cpu',
  });
  const test = ev.modes.find((m) => m.mode === 'test');
  check(test !== undefined && test.total > 0, `evaluate: ${test?.total ?? 0} test mentions`);
  const recall = Object.entries(test?.recall ?? {});
  check(
    recall.length > 0 && recall.every(([, r]) => r === null || (r >= 0 && r <= 1)),
    `recall in [0, 1]: ${recall.map(([k, r]) => `${k}=${r === null ? '-' : r.toFixed(4)}`).join(' ')}`,
  );
  check(existsSync(ev.reportPath), `report ${ev.reportPath}`);
} catch (e) {
  failures.push(`unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  console.error(e);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(
  `consumer: ${failures.length === 0 ? 'all checks passed' : `${failures.length} failed`} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
process.exitCode = failures.length === 0 ? 0 : 1;
