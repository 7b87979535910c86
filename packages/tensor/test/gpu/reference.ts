// Plain CPU references for the gpu kernels, in float64 over Float32Array
// inputs, written for clarity rather than speed: the kernel-level checks (parity.ts) compare
// against these; the backend-level checks (backend-parity.ts) against the CPU backend itself.

/** mulberry32: a small seeded generator, so every run checks the same numbers. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n standard normal samples (Box-Muller) times `scale`. */
export function randn(random: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - random();
    const v = random();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** n uniform samples in [low, high). */
export function uniform(random: () => number, n: number, low: number, high: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = low + (high - low) * random();
  return out;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** C = op(A) @ op(B) with batch dims, A/B 2-D operands shared across the batch. */
export function matmulRef(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], transA: boolean, transB: boolean): { data: Float32Array; shape: number[] } {
  const [ar, ac] = aShape.slice(-2) as [number, number];
  const [br, bc] = bShape.slice(-2) as [number, number];
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const N = transB ? br : bc;
  const aBatch = sizeOf(aShape.slice(0, -2));
  const bBatch = sizeOf(bShape.slice(0, -2));
  const batch = Math.max(aBatch, bBatch);
  const batchDims = aShape.length > 2 ? aShape.slice(0, -2) : bShape.slice(0, -2);
  const out = new Float32Array(batch * M * N);
  for (let p = 0; p < batch; p++) {
    const aOff = aShape.length > 2 ? p * M * K : 0;
    const bOff = bShape.length > 2 ? p * K * N : 0;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let sum = 0;
        for (let k = 0; k < K; k++) {
          const av = a[aOff + (transA ? k * M + i : i * K + k)]!;
          const bv = b[bOff + (transB ? j * K + k : k * N + j)]!;
          sum += av * bv;
        }
        out[p * M * N + i * N + j] = sum;
      }
    }
  }
  return { data: out, shape: [...batchDims, M, N] };
}

export const unaryRef: Record<string, (v: number, c: number) => number> = {
  neg: (v) => -v,
  abs: (v) => Math.abs(v),
  exp: (v) => Math.exp(v),
  log: (v) => Math.log(v),
  sqrt: (v) => Math.sqrt(v),
  rsqrt: (v) => 1 / Math.sqrt(v),
  square: (v) => v * v,
  reciprocal: (v) => 1 / v,
  relu: (v) => Math.max(v, 0),
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  tanh: (v) => Math.tanh(v),
  sign: (v) => Math.sign(v),
  erf: (v) => erfRef(v),
  gelu: (v) => geluRef(v),
  round: (v) => roundHalfEvenRef(v),
  addScalar: (v, c) => v + c,
  mulScalar: (v, c) => v * c,
  powScalar: (v, c) => Math.pow(v, c),
};

export const binaryRef: Record<string, (u: number, v: number) => number> = {
  add: (u, v) => u + v,
  sub: (u, v) => u - v,
  mul: (u, v) => u * v,
  div: (u, v) => u / v,
  pow: (u, v) => Math.pow(u, v),
  maximum: (u, v) => Math.max(u, v),
  minimum: (u, v) => Math.min(u, v),
  gt: (u, v) => (u > v ? 1 : 0),
  ge: (u, v) => (u >= v ? 1 : 0),
  lt: (u, v) => (u < v ? 1 : 0),
  le: (u, v) => (u <= v ? 1 : 0),
  eq: (u, v) => (u === v ? 1 : 0),
};

/** Elementwise op over any number of inputs with NumPy broadcasting, by unravelling every output index. */
export function broadcastRef(op: (...values: number[]) => number, inputs: readonly [Float32Array, readonly number[]][]): { data: Float32Array; shape: number[] } {
  const rank = Math.max(...inputs.map(([, shape]) => shape.length));
  const padded = inputs.map(([, shape]) => [...new Array<number>(rank - shape.length).fill(1), ...shape]);
  const shape = new Array<number>(rank).fill(1).map((_, d) => Math.max(...padded.map((p) => p[d]!)));
  const out = new Float32Array(sizeOf(shape));
  const index = new Array<number>(rank).fill(0);
  for (let flat = 0; flat < out.length; flat++) {
    let rest = flat;
    for (let d = rank - 1; d >= 0; d--) {
      index[d] = rest % shape[d]!;
      rest = Math.floor(rest / shape[d]!);
    }
    const values = inputs.map(([data], k) => {
      let offset = 0;
      for (let d = 0; d < rank; d++) offset = offset * padded[k]![d]! + (padded[k]![d] === 1 ? 0 : index[d]!);
      return data[offset]!;
    });
    out[flat] = op(...values);
  }
  return { data: out, shape };
}

export function binaryRefBroadcast(op: (u: number, v: number) => number, a: Float32Array, aShape: number[], b: Float32Array, bShape: number[]): { data: Float32Array; shape: number[] } {
  return broadcastRef((u, v) => op(u!, v!), [[a, aShape], [b, bShape]]);
}

/** Apply `f` to each row of length D; f returns the row's outputs. */
function mapRows(x: Float32Array, D: number, f: (row: Float32Array) => ArrayLike<number>): Float32Array {
  const rows = x.length / D;
  const first = f(x.subarray(0, D));
  const outD = first.length;
  const out = new Float32Array(rows * outD);
  for (let r = 0; r < rows; r++) out.set(r === 0 ? first : f(x.subarray(r * D, (r + 1) * D)), r * outD);
  return out;
}

export const sumLastDimRef = (x: Float32Array, D: number) => mapRows(x, D, (row) => [row.reduce((s, v) => s + v, 0)]);
export const maxLastDimRef = (x: Float32Array, D: number) => mapRows(x, D, (row) => [Math.max(...row)]);
export const minLastDimRef = (x: Float32Array, D: number) => mapRows(x, D, (row) => [Math.min(...row)]);
export const meanLastDimRef = (x: Float32Array, D: number) => mapRows(x, D, (row) => [row.reduce((s, v) => s + v, 0) / D]);

export function sumLeadingDimsRef(x: Float32Array, D: number): Float32Array {
  const out = new Float64Array(D);
  for (let i = 0; i < x.length; i++) out[i % D] += x[i]!;
  return Float32Array.from(out);
}

export function softmaxRef(x: Float32Array, D: number): Float32Array {
  return mapRows(x, D, (row) => {
    const m = Math.max(...row);
    const e = Array.from(row, (v) => Math.exp(v - m));
    const s = e.reduce((p, v) => p + v, 0);
    return e.map((v) => v / s);
  });
}

export function logSoftmaxRef(x: Float32Array, D: number): Float32Array {
  return mapRows(x, D, (row) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((p, v) => p + Math.exp(v - m), 0));
    return Array.from(row, (v) => v - lse);
  });
}

/** dx = y * (g - sum(g * y)) per row. */
export function softmaxBackwardRef(y: Float32Array, g: Float32Array, D: number): Float32Array {
  const out = new Float32Array(y.length);
  for (let r = 0; r < y.length / D; r++) {
    let dot = 0;
    for (let i = 0; i < D; i++) dot += g[r * D + i]! * y[r * D + i]!;
    for (let i = 0; i < D; i++) out[r * D + i] = y[r * D + i]! * (g[r * D + i]! - dot);
  }
  return out;
}

/** dx = g - exp(y) * sum(g) per row. */
export function logSoftmaxBackwardRef(y: Float32Array, g: Float32Array, D: number): Float32Array {
  const out = new Float32Array(y.length);
  for (let r = 0; r < y.length / D; r++) {
    let sum = 0;
    for (let i = 0; i < D; i++) sum += g[r * D + i]!;
    for (let i = 0; i < D; i++) out[r * D + i] = g[r * D + i]! - Math.exp(y[r * D + i]!) * sum;
  }
  return out;
}

export function layerNormRef(x: Float32Array, D: number, weight: Float32Array, bias: Float32Array, eps: number) {
  const rows = x.length / D;
  const y = new Float32Array(x.length);
  const mean = new Float32Array(rows);
  const rstd = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * D, (r + 1) * D);
    const m = row.reduce((s, v) => s + v, 0) / D;
    const variance = row.reduce((s, v) => s + (v - m) * (v - m), 0) / D;
    const rs = 1 / Math.sqrt(variance + eps);
    mean[r] = m;
    rstd[r] = rs;
    for (let i = 0; i < D; i++) y[r * D + i] = (row[i]! - m) * rs * weight[i]! + bias[i]!;
  }
  return { y, mean, rstd };
}

export function layerNormBackwardRef(g: Float32Array, x: Float32Array, D: number, weight: Float32Array, eps: number) {
  const rows = x.length / D;
  const dx = new Float32Array(x.length);
  const dweight = new Float64Array(D);
  const dbias = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * D, (r + 1) * D);
    const m = row.reduce((s, v) => s + v, 0) / D;
    const variance = row.reduce((s, v) => s + (v - m) * (v - m), 0) / D;
    const rs = 1 / Math.sqrt(variance + eps);
    let meanGw = 0;
    let meanGwXhat = 0;
    for (let i = 0; i < D; i++) {
      const gw = g[r * D + i]! * weight[i]!;
      meanGw += gw / D;
      meanGwXhat += (gw * (row[i]! - m) * rs) / D;
    }
    for (let i = 0; i < D; i++) {
      const xhat = (row[i]! - m) * rs;
      const gi = g[r * D + i]!;
      dx[r * D + i] = rs * (gi * weight[i]! - meanGw - xhat * meanGwXhat);
      dweight[i] += gi * xhat;
      dbias[i] += gi;
    }
  }
  return { dx, dweight: Float32Array.from(dweight), dbias: Float32Array.from(dbias) };
}

/** erf to about double precision: Taylor series below 2.5, the continued fraction of erfc above. */
export function erfRef(x: number): number {
  const a = Math.abs(x);
  let result: number;
  if (a < 2.5) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 60; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    result = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...))))
    let fraction = 0;
    for (let n = 60; n >= 1; n--) fraction = n / 2 / (a + fraction);
    result = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + fraction);
  }
  return x < 0 ? -result : result;
}

export const geluRef = (v: number) => 0.5 * v * (1 + erfRef(v / Math.SQRT2));
export const geluGradRef = (v: number) => 0.5 * (1 + erfRef(v / Math.SQRT2)) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI);

/** round half to even, as torch.round does. */
export function roundHalfEvenRef(v: number): number {
  const r = Math.round(v);
  // Math.round rounds ties up; on a tie with an odd result step back to the even neighbour
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** absmean ternary quantization (BITNET.md section 1), with float32 arithmetic where the device uses it. */
export function absmeanTernaryRef(w: Float32Array) {
  let sum = 0;
  for (const v of w) sum += Math.abs(v);
  const gamma = Math.fround(Math.max(sum / w.length, 1e-5));
  const codes = Float32Array.from(w, (v) => Math.min(Math.max(roundHalfEvenRef(Math.fround(v / gamma)), -1), 1));
  const wq = Float32Array.from(codes, (c) => c * gamma);
  return { gamma, codes, wq };
}

/** absmax fake quantization per group of D values, float32 steps as on the device (qmax 127, eps 1e-5: BitNet's int8). */
export function absmaxQuantizeRef(x: Float32Array, D: number, qmax = 127, eps = 1e-5) {
  const rows = x.length / D;
  const xq = new Float32Array(x.length);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let absmax = 0;
    for (let i = 0; i < D; i++) absmax = Math.max(absmax, Math.abs(x[r * D + i]!));
    const s = Math.fround(qmax / Math.max(absmax, eps));
    scale[r] = s;
    for (let i = 0; i < D; i++) {
      const code = Math.min(Math.max(roundHalfEvenRef(Math.fround(x[r * D + i]! * s)), -qmax - 1), qmax);
      xq[r * D + i] = code / s;
    }
  }
  return { xq, scale };
}

/** ternary fake quantization with one given scale per group of D values. */
export function ternaryQuantizeRef(x: Float32Array, scale: Float32Array, D: number): Float32Array {
  return Float32Array.from(x, (v, i) => {
    const s = scale[Math.floor(i / D)]!;
    return Math.min(Math.max(roundHalfEvenRef(Math.fround(v / s)), -1), 1) * s;
  });
}
