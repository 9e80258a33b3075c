// Named scratch tensors reused across steps: allocated on first use or when a shape changes.
import { tensor, type DeviceName, type DType, type NativeTensor } from '../native.js';

export class Workspace {
  private readonly slots = new Map<string, NativeTensor>();
  private views = new WeakMap<NativeTensor, Map<string, NativeTensor>>();
  private consts = new WeakMap<NativeTensor, Float32Array | Int32Array>();
  constructor(readonly device: DeviceName) {}

  /**
   * base.view(offset, shape), made once per (base, offset, shape): making a view costs a native
   * object (and its finalizer), and training steps take the same views every step.
   */
  view(base: NativeTensor, offset: number, shape: number[]): NativeTensor {
    let m = this.views.get(base);
    if (!m) {
      m = new Map();
      this.views.set(base, m);
    }
    const key = `${offset}:${shape.join(',')}`;
    let v = m.get(key);
    if (!v) {
      v = base.view(offset, shape);
      m.set(key, v);
    }
    return v;
  }

  get(key: string, dtype: DType, shape: number[]): NativeTensor {
    const t = this.slots.get(key);
    if (t && !t.disposed && t.dtype === dtype && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
    t?.dispose();
    const n = tensor(this.device, dtype, shape);
    this.slots.set(key, n);
    return n;
  }

  /**
   * A tensor holding `data`, uploaded only when it differs from what this call last put in the
   * slot (on CUDA an upload waits for the stream): per-step constants such as in-batch targets.
   * The tensor must not be written by other means.
   */
  constant(key: string, dtype: 'f32' | 'i32', shape: number[], data: Float32Array | Int32Array): NativeTensor {
    const t = this.get(key, dtype, shape);
    const last = this.consts.get(t);
    if (last && last.length === data.length && last.every((v, i) => Object.is(v, data[i]))) return t;
    t.upload(data);
    this.consts.set(t, data.slice());
    return t;
  }

  /** An i32 tensor holding `data` (uploaded every call). */
  ints(key: string, shape: number[], data: Int32Array): NativeTensor {
    const t = this.get(key, 'i32', shape);
    t.upload(data);
    return t;
  }

  dispose(): void {
    for (const t of this.slots.values()) t.dispose();
    this.slots.clear();
    this.views = new WeakMap();
    this.consts = new WeakMap();
  }
}
