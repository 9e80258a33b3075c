// The finetune stage: the original's finetune.py (in-batch: scores = generated features x the
// candidate encoder's embeddings of their entities) and, with `hard`, finetune_hard.py (against
// each feature's saved k candidates). Only the candidate encoder trains; optimiser, schedule,
// clipping, checkpoints and resume are trainBiencoder's.
import type { TaskContext } from '../api/events.js';
import { cacheDirFor } from '../data/cache-dir.js';
import { preparedPath } from '../data/prepared.js';
import { resolveSettings } from '../settings/resolve.js';
import type { FinetuneSettings } from '../settings/types.js';
import { finetune as finetuneLoop, openFeatureData } from '../train/finetune.js';
import { findGeneratedFile } from '../train/generate-features.js';
import { rankLogDir, rankZeroFirst, runCommunicator, trainerRunFields, withRankOutputLock } from './ranks.js';
import { RESUME_HINT, trainingSession } from './session.js';
import { checkDataPath, checkModelSource, chooseDevice, openCache, openModel, trainSettingsOf, precisionOf } from './setup.js';
import { trainResult, type TrainBiencoderResult } from './train-biencoder.js';

export async function runFinetune(input: FinetuneSettings, ctx: TaskContext): Promise<TrainBiencoderResult> {
  const s = resolveSettings('finetune', input);
  const device = chooseDevice(s);
  precisionOf(s.precision, device, 'training');
  checkModelSource('finetune', s);
  checkDataPath('finetune', s, 'val', false);
  const file = findGeneratedFile(s.generateDataPath, s.hard);
  const comm = runCommunicator();
  return withRankOutputLock(comm, s.outputPath, 'finetune', async () => {
    const t0 = performance.now();
    const { model, settings, tok } = openModel(s, device);
    const train = openFeatureData(file, s.hard);
    const lens = { maxContextLength: s.maxContextLength, maxCandLength: s.maxCandLength, cacheDir: cacheDirFor(s.dataPath, s.outputPath) };
    const val = {
      mentions: await rankZeroFirst(comm, () =>
        openCache(tok, { kind: 'mentions', source: preparedPath(s.dataPath, 'val'), name: 'val', ...lens }),
      ),
      entities: train.entities,
    };
    ctx.emit({
      type: 'message',
      level: 'info',
      text: `fine-tuning the candidate encoder on ${train.features.header.count} generated features from ${file}${s.hard ? ` (${train.features.header.topK} candidates each)` : ''}`,
    });
    const r = await trainingSession(
      rankLogDir(comm, s.outputPath),
      ctx,
      { resumeHint: RESUME_HINT, start: { command: 'finetune', device, hard: s.hard, settings: s } },
      (hooks) =>
        finetuneLoop(
          {
            model,
            settings,
            train,
            val,
            ...trainerRunFields(s, tok, comm),
          },
          trainSettingsOf(s),
          hooks,
        ),
    );
    return trainResult(s.outputPath, r, t0);
  });
}
