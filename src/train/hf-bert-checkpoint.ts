// Whether a --path_to_model folder is a plain HF BERT (pretrain-synonyms' output, a downloaded
// SapBERT) rather than a bi-encoder checkpoint: then both encoders start from it, as with
// --bert_model, so a pretrained encoder is evaluated zero-shot by the same flag as a trained one.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { FileSource } from '../checkpoint/bytes.js';
import { readCheckpointFile, readSafetensorsHeader } from '../checkpoint/index.js';

const BIENCODER_PREFIXES = ['context_encoder.', 'cand_encoder.', 'module.context_encoder.', 'module.cand_encoder.'];

function weightNames(file: string): string[] {
  if (!file.endsWith('.safetensors')) return [...readCheckpointFile(file).keys()];
  const src = new FileSource(file);
  try {
    return readSafetensorsHeader(src).entries.map((e) => e.name);
  } finally {
    src.close();
  }
}

/**
 * True for a folder whose config.json has no `biofeg` record (ours always write one) and whose
 * weights hold no bi-encoder names (an original BLINK checkpoint folder has them).
 */
export function isPlainBertFolder(dir: string): boolean {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return false;
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) return false;
  let cfg: unknown;
  try {
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch {
    return false; // openBiEncoder reports the bad JSON with its own message
  }
  if (cfg === null || typeof cfg !== 'object' || 'biofeg' in cfg) return false;
  const file = ['model.safetensors', 'pytorch_model.bin'].map((f) => join(dir, f)).find((f) => existsSync(f));
  if (file === undefined) return false;
  return !weightNames(file).some((n) => BIENCODER_PREFIXES.some((p) => n.startsWith(p)));
}
