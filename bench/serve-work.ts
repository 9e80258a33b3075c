// bench:serve's work accounting: the model FLOPs a linked mention costs (its window's real tokens
// through the encoder, counted as bench:bert --shapes real counts them) and the CPU's f32 FMA peak
// measured in the same run, so a mentions/s figure reads as a share of what the machine can do,
// and a bar as the share it would need.
import { contextRepresentation } from '../src/data/blink-inputs.js';
import { sizedConfig, type BertSize } from '../src/models/init.js';
import { native } from '../src/native.js';
import { builtinData } from '../src/paths.js';
import { fromVocab } from '../src/tokenize/load.js';

export interface Work {
  /** Mean real tokens of a mention's window (the served model's max_context_length). */
  tokensPerMention: number;
  /** Encoder FLOPs per mention: layers x (2n(4h^2 + 2hI) + 4n^2h), n its real tokens. */
  gflopPerMention: number;
  note: string;
}

/** A size's work at the top concurrency: shares of the FMA peak (1 = the peak). */
export interface ServeWork extends Work {
  peakGflops: number;
  peakWidth: string;
  oursShare: number;
  peerShare?: number;
  /** The share 1.5x the peer's mentions/s would take. */
  barShare?: number;
}

export function mentionWork(
  size: BertSize,
  mentions: ReadonlyArray<{ text: string; left: string; right: string }>,
  maxContextLength: number,
): Work {
  const tok = fromVocab(builtinData.vocabPath, { lowercase: true });
  const c = sizedConfig(size, 30522);
  const h = c.hiddenSize,
    I = c.intermediateSize;
  let tokens = 0,
    flops = 0;
  for (const m of mentions) {
    const n = contextRepresentation(tok, m.text, m.left, m.right, maxContextLength).tokens.length;
    tokens += n;
    flops += c.numLayers * (2 * n * (4 * h * h + 2 * h * I) + 4 * n * n * h);
  }
  return {
    tokensPerMention: tokens / mentions.length,
    gflopPerMention: flops / mentions.length / 1e9,
    note: 'encoder FLOPs on each window’s real tokens n: layers x (2n(4h^2+2hI) + 4n^2h); the peer computes all of it, biofeg less (only [CLS] leaves its last layer), so its share is an over-count by under one layer’s worth',
  };
}

/** f32 FMA peak of this machine's widest vector width on the engine's threads, in GFLOP/s. */
export function fmaPeakGflops(): { gflops: number; width: 'avx512' | 'avx2' } {
  const addon = native() as unknown as { cpuFmaPeak(lanes: 8 | 16, seconds: number): number };
  const w512 = addon.cpuFmaPeak(16, 0.25),
    w256 = addon.cpuFmaPeak(8, 0.25);
  return w512 > w256 ? { gflops: w512, width: 'avx512' } : { gflops: w256, width: 'avx2' };
}
