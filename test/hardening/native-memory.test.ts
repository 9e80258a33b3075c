// Issue 16, class 4: native memory the garbage collector can see. Tensors and BertModels report
// their bytes to V8 (napi_adjust_external_memory), so a program that never calls dispose() has
// them collected under memory pressure instead of growing until the host runs out. Each scenario
// runs in a child process with a small JS heap and reports its peak RSS; the limits sit far below
// what the same loop holds when nothing is reported (every tensor kept: 6 GiB), and far above
// what a collected run needs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'biofeg-native-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Peak {
  peakMb: number;
  heldMb: number;
  madeMb: number;
}

// Runs `body` (a module using `tensor`, `bytesInUse`, `nativeBertClass`, `peak()` and `turn()`)
// with a 64 MiB JS heap; it prints one JSON line {peakMb, heldMb, madeMb}.
function child(name: string, body: string): Peak {
  const file = join(dir, `${name}.mts`);
  writeFileSync(
    file,
    `import { bytesInUse, tensor } from ${JSON.stringify(join(ROOT, 'src', 'native.ts'))};
import { nativeBertClass } from ${JSON.stringify(join(ROOT, 'src', 'models', 'bert-native.ts'))};
let peakRss = 0;
const peak = () => { peakRss = Math.max(peakRss, process.memoryUsage().rss); };
// Node-API runs finalizers on the event loop, never inside a synchronous loop: yield to it.
const turn = () => new Promise((r) => setImmediate(r));
void tensor; void nativeBertClass;
${body}
console.log(JSON.stringify({ peakMb: peakRss / 2 ** 20, heldMb: bytesInUse('cpu') / 2 ** 20, madeMb }));
`,
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--max-old-space-size=64', file], {
    encoding: 'utf8',
    timeout: 60_000,
    killSignal: 'SIGKILL',
    cwd: ROOT,
  });
  expect(r.status, `${name}: ${r.signal ?? ''} ${r.stderr.slice(-2000)}`).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Peak;
}

describe('undisposed native memory is collected under pressure', () => {
  it('1500 tensors of 4 MiB (6 GiB in all), never disposed, stay within a bounded RSS', () => {
    const p = child(
      'tensors',
      `const madeMb = 1500 * 4;
for (let i = 0; i < 1500; i++) {
  tensor('cpu', 'f32', [1 << 20]);
  if (i % 25 === 0) { peak(); await turn(); }
}`,
    );
    expect(p.madeMb).toBe(6000);
    expect(p.peakMb, JSON.stringify(p)).toBeLessThan(1200);
    expect(p.heldMb, JSON.stringify(p)).toBeLessThan(1000);
  });

  it('views keep their storage reported: a 4 MiB tensor dropped for a view of it is not freed under the view', () => {
    const p = child(
      'views',
      `const madeMb = 600 * 4;
const keep = [];
for (let i = 0; i < 600; i++) {
  const v = tensor('cpu', 'f32', [1 << 20]).view(0, [4]);
  if (i % 100 === 0) keep.push(v); // 6 views (and their 4 MiB storages) stay alive
  if (i % 25 === 0) { peak(); await turn(); }
}
for (const v of keep) v.download();`,
    );
    expect(p.heldMb, JSON.stringify(p)).toBeGreaterThanOrEqual(24); // the kept views' storages
    expect(p.peakMb, JSON.stringify(p)).toBeLessThan(1000);
  });

  it('a BertModel opened 100 times without dispose (15 MiB each) stays bounded', () => {
    const p = child(
      'bert',
      `const Bert = nativeBertClass();
const cfg = { vocabSize: 4000, hiddenSize: 256, numLayers: 2, numHeads: 4, intermediateSize: 1024, maxPositions: 64 };
let madeMb = 0;
for (let i = 0; i < 100; i++) {
  const before = bytesInUse('cpu');
  const m = new Bert(cfg, 'cpu');
  m.forward({ inputIds: new Int32Array(8 * 16), batch: 8, seq: 16 });
  madeMb += (bytesInUse('cpu') - before) / 2 ** 20;
  peak();
  await turn();
}`,
    );
    expect(p.madeMb).toBeGreaterThan(1000); // what never collecting them would hold
    expect(p.peakMb, JSON.stringify(p)).toBeLessThan(700);
    expect(p.heldMb, JSON.stringify(p)).toBeLessThan(500);
  });
});
