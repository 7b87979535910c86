// Argument checks shared by the packed ternary matmuls, so every kernel fails the same clear way.

export interface TernaryMatmulArgs {
  x: Int8Array | Float32Array;
  tokens: number;
  inFeatures: number;
  packedLength: number;
  outFeatures: number;
  weightScale: Float32Array;
  actScale: Float32Array;
  bias: Float32Array | null;
  out: Float32Array;
}

export function checkTernaryMatmulArgs(fn: string, a: TernaryMatmulArgs, packedRowBytes: number): void {
  const { tokens, inFeatures, outFeatures } = a;
  for (const [name, v] of [['tokens', tokens], ['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${fn}: ${name} must be a non-negative integer, got ${v}`);
  }
  const expect = (what: string, got: number, want: number, why: string): void => {
    if (got !== want) throw new Error(`${fn}: ${what} has length ${got}, expected ${want} (${why})`);
  };
  expect('x', a.x.length, tokens * inFeatures, `tokens ${tokens} x inFeatures ${inFeatures}`);
  expect('packed', a.packedLength, outFeatures * packedRowBytes, `outFeatures ${outFeatures} rows of ${packedRowBytes} bytes`);
  expect('actScale', a.actScale.length, tokens, 'one scale per token');
  expect('out', a.out.length, tokens * outFeatures, `tokens ${tokens} x outFeatures ${outFeatures}`);
  if (a.bias !== null) expect('bias', a.bias.length, outFeatures, 'one per output feature');
  if (a.weightScale.length !== 1 && a.weightScale.length !== outFeatures) {
    throw new Error(`${fn}: weightScale has length ${a.weightScale.length}, expected 1 (per tensor) or ${outFeatures} (per output channel)`);
  }
}

let scales = new Float32Array(0);
/** A reused array for per-token scales nobody asked for (a kernel's linear() without actScaleOut):
 *  a view of `tokens` floats, valid until the next call. */
export function scratchScales(tokens: number): Float32Array {
  if (scales.length < tokens) scales = new Float32Array(Math.max(tokens, 2 * scales.length));
  return scales.subarray(0, tokens);
}
