import type { Command } from 'commander';
import { register as registerTokenize } from './tokenize.js';
import { register as registerPrepare } from './prepare.js';
import { register as registerImportPubtator } from './import-pubtator.js';
import { register as registerTrainBiencoder } from './train-biencoder.js';
import { register as registerEvalBiencoder } from './eval-biencoder.js';
import { register as registerTrainCross } from './train-cross.js';
import { register as registerEvalCross } from './eval-cross.js';
import { register as registerTrainGan } from './train-gan.js';
import { register as registerDemo } from './demo.js';
import { register as registerEncode } from './encode.js';
import { register as registerGenerateFeatures } from './generate-features.js';
import { register as registerFinetune } from './finetune.js';
import { register as registerPipeline } from './pipeline.js';
import { register as registerCache } from './cache.js';
import { register as registerServe } from './serve.js';
import { register as registerIndex } from './index-cmd.js';
import { register as registerReport } from './report.js';
import { register as registerPretrainSynonyms } from './pretrain-synonyms.js';

/** Each command module exports `register(program)`; add one line per command. */
export const registrations: Array<(program: Command) => void> = [
  registerTokenize,
  registerPrepare,
  registerImportPubtator,
  registerPretrainSynonyms,
  registerTrainBiencoder,
  registerEvalBiencoder,
  registerTrainCross,
  registerEvalCross,
  registerTrainGan,
  registerDemo,
  registerEncode,
  registerGenerateFeatures,
  registerFinetune,
  registerPipeline,
  registerCache,
  registerIndex,
  registerServe,
  registerReport,
];
