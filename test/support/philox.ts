// Philox4x32-10 in JS: an independent copy of native/core/philox.h for checking dropout masks.
function mulhilo(a: number, b: number): [number, number] {
  const p = BigInt(a >>> 0) * BigInt(b >>> 0);
  return [Number(p >> 32n) >>> 0, Number(p & 0xffffffffn) >>> 0];
}

/** Uniform for element e of a draw: output e % 4 of the Philox4x32-10 block at counter e / 4. */
export function philoxUniform(seed: bigint, e: bigint): number {
  const ctr = e >> 2n;
  const c = [Number(ctr & 0xffffffffn) >>> 0, Number((ctr >> 32n) & 0xffffffffn) >>> 0, 0, 0];
  const k = [Number(seed & 0xffffffffn) >>> 0, Number((seed >> 32n) & 0xffffffffn) >>> 0];
  for (let r = 0; r < 10; r++) {
    const [hi0, lo0] = mulhilo(0xd2511f53, c[0]!);
    const [hi1, lo1] = mulhilo(0xcd9e8d57, c[2]!);
    const n0 = (hi1 ^ c[1]! ^ k[0]!) >>> 0;
    const n2 = (hi0 ^ c[3]! ^ k[1]!) >>> 0;
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
    k[0] = (k[0]! + 0x9e3779b9) >>> 0;
    k[1] = (k[1]! + 0xbb67ae85) >>> 0;
  }
  return (c[Number(e & 3n)]! >>> 8) / 16777216;
}

export const dropoutKeep = (seed: bigint, ctr: bigint, p: number): boolean => philoxUniform(seed, ctr) >= p;
