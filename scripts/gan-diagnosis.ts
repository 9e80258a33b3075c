// Issue 22's diagnosis of one pipeline run (a seed folder of scripts/real-data.sh, or any
// `biofeg pipeline` output): the GAN's loss curves, unseen recall before and after fine-tuning on
// generated features, and generated vs real feature statistics of the entities seen in train.
//   npx tsx scripts/gan-diagnosis.ts RUN_DIR [--json] [--no-features]
// --no-features reads the files only (no model is loaded).
import { formatRunSummary, summariseRun } from '../src/report/gan-summary.js';
import { diagnoseGanFeatures } from '../src/stages/gan-diagnosis.js';

const args = process.argv.slice(2);
const runDir = args.find((a) => !a.startsWith('--'));
if (runDir === undefined) {
  process.stderr.write('usage: gan-diagnosis.ts RUN_DIR [--json] [--no-features]\n');
  process.exit(2);
}
try {
  const summary = summariseRun(runDir);
  const features = args.includes('--no-features') ? null : await diagnoseGanFeatures({ runDir });
  if (args.includes('--json')) process.stdout.write(`${JSON.stringify({ summary, features }, null, 2)}\n`);
  else {
    process.stdout.write(`${formatRunSummary(summary)}\n`);
    if (features) {
      const f = (x: number) => x.toFixed(4);
      process.stdout.write(
        [
          `features of ${features.entities} seen entities (${features.generatedRows} generated, ${features.draws} draws each; ${features.realRows} real train mentions):`,
          `  mean norm: real ${f(features.realMeanNorm)}, generated ${f(features.generatedMeanNorm)}`,
          `  mean cosine, generated -> own entity's real ${f(features.generatedToOwn)}, -> other entities' real ${f(features.generatedToOthers)}`,
          `  mean cosine, real -> own entity's other real ${f(features.realToOwn)}, -> other entities' real ${f(features.realToOthers)}`,
          `  generated rows whose nearest real centroid is their own entity's: ${f(features.generatedNearestOwn)}`,
        ].join('\n') + '\n',
      );
    }
  }
} catch (e) {
  process.stderr.write(`gan-diagnosis: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
