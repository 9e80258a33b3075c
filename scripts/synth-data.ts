// A synthetic MedMentions-scale dataset in the arboEL layout (src/data/synthetic.ts), for timing:
//   npx tsx scripts/synth-data.ts --out runs/synth [--scale 1] [--entity-scale S] [--seed 52313] [--vocab FILE]
// --vocab defaults to ../shared/data/vocab/bert-base-uncased-vocab.txt when present, else the built-in one.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { generateSynthetic } from '../src/data/synthetic.js';
import { builtinData } from '../src/paths.js';

const { values: v } = parseArgs({
  options: {
    out: { type: 'string' },
    scale: { type: 'string', default: '1' },
    'entity-scale': { type: 'string' },
    seed: { type: 'string', default: '52313' },
    vocab: { type: 'string' },
  },
});
if (!v.out) {
  process.stderr.write('synth-data: --out DIR is required\n');
  process.exit(2);
}
const bertVocab = new URL('../../shared/data/vocab/bert-base-uncased-vocab.txt', import.meta.url).pathname;
const vocabPath = v.vocab ?? (existsSync(bertVocab) ? bertVocab : builtinData.vocabPath);
const t0 = performance.now();
const m = generateSynthetic({
  outDir: v.out,
  scale: Number(v.scale),
  ...(v['entity-scale'] !== undefined ? { entityScale: Number(v['entity-scale']) } : {}),
  seed: Number(v.seed),
  vocabPath,
});
const c = m.counts;
console.log(
  `${v.out}: ${c.entities} entities (${c.unseenEntities} linked from no train mention), mentions train ${c.mentions.train} / val ${c.mentions.val} / test ${c.mentions.test} ` +
    `(unseen: val ${c.unseenMentions.val}, test ${c.unseenMentions.test}), documents ${c.documents.train} / ${c.documents.val} / ${c.documents.test}; ` +
    `${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
