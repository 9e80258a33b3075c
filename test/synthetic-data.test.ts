// The synthetic MedMentions-scale dataset (src/data/synthetic.ts) and the schedule timing script
// that runs on it (bench/schedule.ts), at a tiny scale on the CPU.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import type { MentionRecord } from '../src/data/arboel.js';
import { generateSynthetic, MEDMENTIONS_SIZE, syntheticCounts } from '../src/data/synthetic.js';
import { prepare } from '../src/data/prepare.js';
import { DEFAULT_STAGES } from '../src/pipeline/config.js';
import { SettingsError } from '../src/errors.js';
import { builtinData } from '../src/paths.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'biofeg-synth-'));
const jsonl = <T>(path: string): T[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);

describe('synthetic dataset', () => {
  it('writes the arboEL layout with spans, links and zero-shot mentions as its manifest says; same seed, same bytes', async () => {
    const a = join(tmp(), 'a'),
      b = join(tmp(), 'b');
    const m = generateSynthetic({ outDir: a, scale: 0.002, vocabPath: builtinData.vocabPath, seed: 7 });
    generateSynthetic({ outDir: b, scale: 0.002, vocabPath: builtinData.vocabPath, seed: 7 });
    const files = [
      'documents/all_documents.json',
      ...['train', 'val', 'test'].flatMap((s) => [`documents/${s}.json`, `mentions/${s}.json`]),
    ];
    for (const f of files) expect(readFileSync(join(a, f), 'utf8'), f).toBe(readFileSync(join(b, f), 'utf8'));
    expect(readdirSync(a).sort()).toEqual(['documents', 'mentions', 'synthetic.json']);

    const entities = new Set(jsonl<{ document_id: string }>(join(a, 'documents', 'all_documents.json')).map((e) => e.document_id));
    expect(entities.size).toBe(m.counts.entities);
    const trainLabels = new Set<string>();
    for (const split of ['train', 'val', 'test'] as const) {
      const docs = new Map(
        jsonl<{ document_id: string; text: string }>(join(a, 'documents', `${split}.json`)).map((d) => [d.document_id, d.text]),
      );
      const ments = jsonl<MentionRecord>(join(a, 'mentions', `${split}.json`));
      expect(ments.length).toBe(m.counts.mentions[split]);
      expect(docs.size).toBe(m.counts.documents[split]);
      for (const x of ments) {
        expect(entities.has(x.label_document_id)).toBe(true);
        const words = docs.get(x.context_document_id)!.split(' ');
        expect(words.slice(x.start_index, x.end_index + 1).join(' ')).toBe(x.text);
        if (split === 'train') trainLabels.add(x.label_document_id);
      }
      if (split !== 'train') {
        const unseen = ments.filter((x) => !trainLabels.has(x.label_document_id)).length;
        expect(unseen).toBe(m.counts.unseenMentions[split]);
        expect(unseen).toBeGreaterThan(0);
      }
    }
    expect(m.counts.seenEntities).toBe(trainLabels.size);
    expect(m.counts.unseenEntities).toBe(entities.size - trainLabels.size);
    // The project's own reader takes it as the original's data.
    const r = await prepare({ dataDir: a, outDir: join(a, 'processed') });
    expect(r.splits.train.mentions).toBe(m.counts.mentions.train);
  });

  it("scale 1 is MedMentions' size, with entities never linked from train; a bad scale is a SettingsError", () => {
    const c = syntheticCounts(1);
    expect(c.mentions).toEqual({ train: MEDMENTIONS_SIZE.train, val: MEDMENTIONS_SIZE.val, test: MEDMENTIONS_SIZE.test });
    expect(c.entities).toBe(MEDMENTIONS_SIZE.entities);
    expect(c.unseenEntities).toBeGreaterThan(0.3 * c.entities);
    expect(c.unseenMentions.test).toBeGreaterThan(0.3 * c.mentions.test);
    expect(() => generateSynthetic({ outDir: join(tmp(), 'x'), scale: 0, vocabPath: builtinData.vocabPath })).toThrow(SettingsError);
  });
});

describe('bench/schedule.ts', () => {
  it('runs every stage once at a tiny scale and prints the extrapolated schedule', () => {
    const dir = tmp();
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/schedule.ts',
        '--scale',
        '0.002',
        '--device',
        'cpu',
        '--max-length',
        '16',
        '--threads',
        '2',
        '--out-dir',
        join(dir, 'run'),
      ],
      { env: { ...process.env, BIOFEG_BENCH_RESULTS: dir }, encoding: 'utf8', timeout: 400_000 },
    );
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/schedule total: [\d.]+ h;/);
    expect(r.stdout).not.toMatch(/not measured|WITHOUT/);
    const out = JSON.parse(readFileSync(join(dir, 'schedule-cpu-f32.json'), 'utf8')) as {
      stages: Array<{ stage: string; fullSeconds?: number; measuredSeconds?: number; factor?: number }>;
      totalHours: number;
      dataset: { mentions: { train: number } };
    };
    expect(out.stages.map((s) => s.stage)).toEqual(DEFAULT_STAGES);
    for (const s of out.stages) {
      expect(s.fullSeconds, s.stage).toBeGreaterThan(s.measuredSeconds! * 0.99);
      expect(Number.isFinite(s.fullSeconds)).toBe(true);
    }
    // GAN: 80 epochs of the full train set from one measured epoch.
    const gan = out.stages.find((s) => s.stage === 'gan')!;
    expect(gan.factor).toBeCloseTo((MEDMENTIONS_SIZE.train / out.dataset.mentions.train) * 80, 6);
    expect(out.totalHours * 3600).toBeCloseTo(
      out.stages.reduce((a, s) => a + s.fullSeconds!, 0),
      3,
    );
  }, 420_000);
});
