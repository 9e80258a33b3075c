// A model's parameters as a state_dict (name -> shape and values, in the parts' order), the form
// the checkpoint writers take. Each part is one flat buffer holding the named tensors of its layout.
import type { ParamPart } from '../models/biencoder.js';

export type StateDict = Map<string, { shape: number[]; data: Float32Array }>;

/** Every parameter of `parts` under its state_dict name (the part's prefix + the layout's name). */
export function stateDictOf(parts: readonly ParamPart[]): StateDict {
  const out: StateDict = new Map();
  for (const p of parts) {
    const flat = p.params.download() as Float32Array;
    for (const e of p.layout) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      out.set(p.prefix + e.name, { shape: e.shape, data: flat.slice(e.offset, e.offset + n) });
    }
  }
  return out;
}
