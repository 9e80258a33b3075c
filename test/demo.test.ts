// The README's main command, shortened: every stage runs and reports all / seen / unseen recall.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { DEMO_DEFAULTS, runDemo } from '../src/cli/commands/demo.js';

describe('biofeg demo', () => {
  const out = mkdtempSync(join(tmpdir(), 'biofeg-demo-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs prepare, eval, in-batch training, the GAN stage, candidates, the hard round and eval', async () => {
    const lines: string[] = [];
    const r = await runDemo({ ...DEMO_DEFAULTS, output: out, epochs: 1, ganEpochs: 1, finetuneEpochs: 1, hardTopK: 4, maxLength: 16, silent: true }, (s) => lines.push(s));
    for (const rep of [r.untrained, r.inBatch, r.gan, r.hard]) {
      expect(rep.modes.map((m) => m.mode)).toEqual(['test', 'test_seen', 'test_unseen']);
      const [all, seen, unseen] = rep.modes.map((m) => m.recall);
      // test = test_seen + test_unseen, so its hits are theirs combined.
      expect(all!.total).toBe(seen!.total + unseen!.total);
      const hits = (x: typeof all) => Math.round(x!.recall[64]! * x!.total);
      expect(hits(all)).toBe(hits(seen) + hits(unseen));
    }
    expect(existsSync(join(out, 'biencoder', 'model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'biencoder-hard', 'pytorch_model.bin'))).toBe(true);
    expect(existsSync(join(out, 'candidates', 'top4_candidates', 'train.topk'))).toBe(true);
    expect(existsSync(join(out, 'gan', 'epoch_0', 'gan.json'))).toBe(true);
    expect(existsSync(join(out, 'generate', 'candidates_50', 'generate.topk'))).toBe(true);
    expect(existsSync(join(out, 'finetune', 'model.safetensors'))).toBe(true);
    expect(lines.join('\n')).toMatch(/GAN fine-tuning, test_unseen recall@1 \/ @64: \d\.\d{4} \/ \d\.\d{4} -> \d\.\d{4} \/ \d\.\d{4}/);
    expect(lines.join('\n')).toMatch(/recall@64 +all +seen +unseen\nuntrained +\d\.\d{4}/);
  });
});
