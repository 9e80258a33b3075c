// Tests that make many native tensors: each one made through the scope's maker is disposed when
// the body returns, throws or (async) settles.
import { tensor, type NativeTensor } from '../../src/native.js';

export type TensorMaker = (...a: Parameters<typeof tensor>) => NativeTensor;

export function withTensors<R>(body: (t: TensorMaker) => R): R {
  const made: NativeTensor[] = [];
  const dispose = () => {
    for (const x of made.splice(0)) x.dispose();
  };
  const t: TensorMaker = (...a) => {
    const x = tensor(...a);
    made.push(x);
    return x;
  };
  let r: R;
  try {
    r = body(t);
  } catch (e) {
    dispose();
    throw e;
  }
  if (r instanceof Promise) return r.finally(dispose) as R;
  dispose();
  return r;
}
