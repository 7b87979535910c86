// The gpu kernel parity checks, runnable anywhere a GpuDevice opens: in Node
// (webasm.test.ts) and inside headless Chromium (browser.test.ts bundles this
// file for the page). Each check runs a kernel on seeded random data of small,
// odd shapes and compares it with the CPU reference elementwise:
//   |gpu - ref| <= atol + rtol * |ref|
// The checks return plain data; the vitest files assert on it.
import {
  absmaxQuantize,
  absmeanScale,
  absmeanTernary,
  actQuantInt8,
  binary,
  clamp,
  gelu,
  geluBackward,
  GpuArray,
  type GpuDevice,
  type GpuInfo,
  layerNorm,
  layerNormBackward,
  logSoftmax,
  logSoftmaxBackward,
  matmul,
  maxLastDim,
  meanLastDim,
  minLastDim,
  softmax,
  softmaxBackward,
  sumLastDim,
  sumLeadingDims,
  ternaryCodes,
  ternaryQuantize,
  unary,
  where,
  type BinaryOp,
  type UnaryOp,
} from '../../src/kernels/gpu/index.js';
import * as ref from './reference.js';

export interface ParityResult {
  name: string;
  /** largest |gpu - ref| over the output */
  maxAbsError: number;
  /** largest |gpu - ref| / (atol + rtol * |ref|): the check passes at <= 1 */
  worstRatio: number;
  /** where the worst element is and what both sides gave */
  worst: string;
  tolerance: string;
  pass: boolean;
  /** wall time of the check, compile included */
  ms: number;
}

export interface ParityReport {
  info: GpuInfo;
  results: ParityResult[];
  /** class name of a kernel result held on the device (a texture or buffer on GPU backends) */
  residentValue: string;
  kernelCount: number;
  totalMs: number;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

export function compare(name: string, gpu: Float32Array, expected: ArrayLike<number>, atol: number, rtol: number, ms = 0): ParityResult {
  const tolerance = `atol ${atol}, rtol ${rtol}`;
  if (gpu.length !== expected.length) {
    return { name, maxAbsError: Infinity, worstRatio: Infinity, worst: `length ${gpu.length}, expected ${expected.length}`, tolerance, pass: false, ms };
  }
  let maxAbsError = 0;
  let worstRatio = 0;
  let worst = 'none';
  for (let i = 0; i < gpu.length; i++) {
    const g = gpu[i]!;
    const r = expected[i]!;
    const error = Math.abs(g - r);
    // NaN on either side is a failure unless both agree on it
    const ratio = Number.isNaN(g) || Number.isNaN(r) ? (Number.isNaN(g) && Number.isNaN(r) ? 0 : Infinity) : error / (atol + rtol * Math.abs(r));
    if (error > maxAbsError) maxAbsError = error;
    if (ratio > worstRatio || (i === 0 && ratio === worstRatio)) {
      worstRatio = ratio;
      worst = `[${i}] gpu ${g}, ref ${r}`;
    }
  }
  return { name, maxAbsError, worstRatio, worst, tolerance, pass: worstRatio <= 1, ms };
}

/** Runs every kernel check on `device`; about 1-2 s on SwiftShader WebGL2, most of it shader compiles. */
export async function runParity(device: GpuDevice, seed = 1234): Promise<ParityReport> {
  const random = ref.seededRandom(seed);
  const results: ParityResult[] = [];
  const start = now();
  const upload = (data: Float32Array, shape: number[]) => device.upload(data, shape);
  const check = async (name: string, run: () => Promise<ParityResult | ParityResult[]>) => {
    const t0 = now();
    try {
      const out = await run();
      for (const r of Array.isArray(out) ? out : [out]) results.push({ ...r, ms: now() - t0 });
    } catch (error) {
      results.push({ name, maxAbsError: Infinity, worstRatio: Infinity, worst: `threw: ${(error as Error).message}`, tolerance: '-', pass: false, ms: now() - t0 });
    }
  };
  const readAndDispose = async (...arrays: GpuArray[]) => {
    const values = await Promise.all(arrays.map((a) => a.read()));
    for (const a of arrays) a.dispose();
    return values;
  };

  // matmul: odd shapes, every transpose, K not a multiple of the unroll (4), a batch, a shared 2-D B,
  // two batch dims, and K > 1000 (gpu.js GL loops stop at loopMaxIterations unless told)
  const matmulCases: [string, number[], number[], boolean, boolean][] = [
    ['matmul 7x13 @ 13x5', [7, 13], [13, 5], false, false],
    ['matmul 1x1 @ 1x1', [1, 1], [1, 1], false, false],
    ['matmul 13x7^T @ 13x5', [13, 7], [13, 5], true, false],
    ['matmul 7x13 @ 5x13^T', [7, 13], [5, 13], false, true],
    ['matmul 13x7^T @ 5x13^T', [13, 7], [5, 13], true, true],
    ['matmul batched 3x5x6 @ 3x6x7', [3, 5, 6], [3, 6, 7], false, false],
    ['matmul batched 2x9x17 @ shared 11x17^T', [2, 9, 17], [11, 17], false, true],
    ['matmul batched 2x3x4x5 @ 2x3x5x3', [2, 3, 4, 5], [2, 3, 5, 3], false, false],
    ['matmul batched 2x6x5^T @ 2x6x3', [2, 6, 5], [2, 6, 3], true, false],
    ['matmul long K 2x1100 @ 1100x3', [2, 1100], [1100, 3], false, false],
  ];
  for (const [name, aShape, bShape, transA, transB] of matmulCases) {
    await check(name, async () => {
      const a = randnOf(random, aShape);
      const b = randnOf(random, bShape);
      const expected = ref.matmulRef(a, aShape, b, bShape, transA, transB);
      const da = upload(a, aShape);
      const db = upload(b, bShape);
      const c = matmul(da, db, { transA, transB });
      if (c.shape.join(',') !== expected.shape.join(',')) throw new Error(`shape [${c.shape.join(',')}], expected [${expected.shape.join(',')}]`);
      const [out] = await readAndDispose(c, da, db);
      // float32 dot products of K standard normals: rounding error grows like sqrt(K) * eps
      const K = transA ? aShape.at(-2)! : aShape.at(-1)!;
      return compare(name, out!, expected.data, 2e-6 * Math.sqrt(K), 1e-5);
    });
  }

  // unary ops on 37 elements, inputs in each op's domain
  const unaryCases: [UnaryOp, number, number, number][] = [
    ['neg', -3, 3, 0], ['abs', -3, 3, 0], ['exp', -5, 5, 0], ['log', 0.01, 10, 0], ['sqrt', 0, 10, 0], ['rsqrt', 0.01, 10, 0],
    ['square', -3, 3, 0], ['reciprocal', 0.1, 5, 0], ['relu', -3, 3, 0], ['sigmoid', -12, 12, 0], ['tanh', -12, 12, 0],
    ['sign', -3, 3, 0], ['erf', -4, 4, 0], ['gelu', -6, 6, 0], ['round', -6, 6, 0],
    ['addScalar', -3, 3, 0.75], ['mulScalar', -3, 3, -1.5], ['powScalar', 0, 4, 2.5],
  ];
  for (const [op, low, high, scalar] of unaryCases) {
    await check(`unary ${op}`, async () => {
      const x = ref.uniform(random, 37, low, high);
      if (op === 'sign') x[0] = 0;
      // exact ties for round half to even
      if (op === 'round') x.set([0.5, -0.5, 1.5, -1.5, 2.5, -2.5]);
      const dx = upload(x, [37]);
      const [out] = await readAndDispose(unary(op, dx, scalar), dx);
      return compare(`unary ${op}`, out!, Array.from(x, (v) => ref.unaryRef[op]!(v, scalar)), 1e-6, 2e-6);
    });
  }

  // binary ops over broadcasting patterns that collapse to 1, 2 and 3 kernel dims
  const broadcastCases: [number[], number[]][] = [
    [[3, 5, 7], [3, 5, 7]],
    [[3, 5, 7], [7]],
    [[3, 1, 7], [1, 5, 1]],
    [[4, 5], [4, 1]],
    [[2, 3, 4, 5], [5]],
    [[6], []],
    [[1], [2, 3]],
    // four and five separate broadcast dims: thread.z is unravelled into the leading ones
    [[2, 3, 5, 3], [2, 1, 5, 1]],
    [[2, 1, 3, 1, 4], [1, 3, 1, 2, 1]],
  ];
  const binaryOps: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'gt', 'ge', 'lt', 'le', 'eq'];
  for (const [aShape, bShape] of broadcastCases) {
    for (const op of binaryOps) {
      const name = `binary ${op} [${aShape}] with [${bShape}]`;
      await check(name, async () => {
        const a = randnOf(random, aShape);
        // keep divisors away from zero and powers on a positive base; comparisons get some equal pairs
        const b = op === 'div' || op === 'pow' ? ref.uniform(random, ref.sizeOf(bShape), 0.5, 2) : randnOf(random, bShape);
        if (op === 'pow') a.set(ref.uniform(random, a.length, 0.1, 3));
        if (op === 'eq' || op === 'ge' || op === 'le') a.set(b.subarray(0, Math.min(a.length, b.length)));
        const expected = ref.binaryRefBroadcast(ref.binaryRef[op]!, a, aShape, b, bShape);
        const da = upload(a, aShape);
        const db = upload(b, bShape);
        const c = binary(op, da, db);
        if (c.shape.join(',') !== expected.shape.join(',')) throw new Error(`shape [${c.shape.join(',')}], expected [${expected.shape.join(',')}]`);
        const [out] = await readAndDispose(c, da, db);
        return compare(name, out!, expected.data, 1e-6, 2e-6);
      });
    }
  }
  for (const [cShape, aShape, bShape] of [[[4, 5], [4, 5], [4, 5]], [[3, 1], [1, 6], [3, 6]], [[2, 1, 5], [5], [3, 1]]] as number[][][]) {
    const name = `where [${cShape}] ? [${aShape}] : [${bShape}]`;
    await check(name, async () => {
      const c = Float32Array.from(randnOf(random, cShape), (v) => (v > 0 ? 1 : 0));
      const a = randnOf(random, aShape);
      const b = randnOf(random, bShape);
      const expected = ref.broadcastRef((cv, av, bv) => (cv !== 0 ? av! : bv!), [[c, cShape], [a, aShape], [b, bShape]]);
      const [dc, da, db] = [upload(c, cShape), upload(a, aShape), upload(b, bShape)];
      const out = where(dc, da, db);
      if (out.shape.join(',') !== expected.shape.join(',')) throw new Error(`shape [${out.shape.join(',')}], expected [${expected.shape.join(',')}]`);
      const [values] = await readAndDispose(out, dc, da, db);
      return compare(name, values!, expected.data, 0, 0);
    });
  }
  await check('clamp', async () => {
    const x = randnOf(random, [41], 2);
    const dx = upload(x, [41]);
    const [out] = await readAndDispose(clamp(dx, -1, 0.5), dx);
    return compare('clamp [41] to [-1, 0.5]', out!, Array.from(x, (v) => Math.min(Math.max(v, -1), 0.5)), 0, 0);
  });

  // reductions along the last dim (one row longer than gpu.js's default loop bound), over leading dims, softmax
  for (const shape of [[3, 5, 11], [2, 1100], [1, 1]]) {
    const D = shape.at(-1)!;
    await check(`reduce [${shape}]`, async () => {
      const x = randnOf(random, shape);
      const dx = upload(x, shape);
      const [sum, max, min, mean] = await readAndDispose(sumLastDim(dx), maxLastDim(dx), minLastDim(dx), meanLastDim(dx), dx);
      return [
        compare(`sumLastDim [${shape}]`, sum!, ref.sumLastDimRef(x, D), 1e-5 * Math.sqrt(D), 1e-5),
        compare(`maxLastDim [${shape}]`, max!, ref.maxLastDimRef(x, D), 0, 0),
        compare(`minLastDim [${shape}]`, min!, ref.minLastDimRef(x, D), 0, 0),
        compare(`meanLastDim [${shape}]`, mean!, ref.meanLastDimRef(x, D), 1e-6, 1e-5),
      ];
    });
  }
  for (const shape of [[4, 3, 9], [1100, 2], [5]]) {
    await check(`sumLeadingDims [${shape}]`, async () => {
      const x = randnOf(random, shape);
      const dx = upload(x, shape);
      const [out] = await readAndDispose(sumLeadingDims(dx), dx);
      return compare(`sumLeadingDims [${shape}]`, out!, ref.sumLeadingDimsRef(x, shape.at(-1)!), 1e-5 * Math.sqrt(ref.sizeOf(shape)), 1e-5);
    });
  }
  for (const [shape, scale] of [[[3, 4, 13], 1], [[2, 17], 30]] as [number[], number][]) {
    await check(`softmax [${shape}] x${scale}`, async () => {
      // scale 30: logits up to ~100, where exp overflows unless the row max is subtracted first
      const x = randnOf(random, shape, scale);
      const g = randnOf(random, shape);
      const D = shape.at(-1)!;
      const [dx, dg] = [upload(x, shape), upload(g, shape)];
      const y = softmax(dx);
      const logY = logSoftmax(dx);
      const [out, logOut, grad, logGrad] = await readAndDispose(y, logY, softmaxBackward(y, dg), logSoftmaxBackward(logY, dg), dx, dg);
      // the backward references take the device's forward output, so only the backward is compared
      return [
        compare(`softmax [${shape}] x${scale}`, out!, ref.softmaxRef(x, D), 1e-6, 1e-5),
        compare(`logSoftmax [${shape}] x${scale}`, logOut!, ref.logSoftmaxRef(x, D), 1e-5, 1e-5),
        compare(`softmaxBackward [${shape}] x${scale}`, grad!, ref.softmaxBackwardRef(out!, g, D), 1e-6, 1e-5),
        compare(`logSoftmaxBackward [${shape}] x${scale}`, logGrad!, ref.logSoftmaxBackwardRef(logOut!, g, D), 1e-5, 1e-5),
      ];
    });
  }

  // layerNorm forward and backward, with ViT's eps 1e-12 and PyTorch's default 1e-5
  for (const [shape, eps] of [[[2, 5, 24], 1e-12], [[3, 7], 1e-5]] as [number[], number][]) {
    const D = shape.at(-1)!;
    await check(`layerNorm [${shape}] eps ${eps}`, async () => {
      const x = randnOf(random, shape, 2);
      const w = ref.uniform(random, D, 0.5, 1.5);
      const b = randnOf(random, [D], 0.1);
      const g = randnOf(random, shape);
      const expected = ref.layerNormRef(x, D, w, b, eps);
      const expectedGrad = ref.layerNormBackwardRef(g, x, D, w, eps);
      const [dx, dw, db, dg] = [upload(x, shape), upload(w, [D]), upload(b, [D]), upload(g, shape)];
      const forward = layerNorm(dx, dw, db, eps);
      const backward = layerNormBackward(dg, dx, dw, forward.mean, forward.rstd);
      const [y, mean, rstd, gx, gw, gb] = await readAndDispose(forward.y, forward.mean, forward.rstd, backward.dx, backward.dweight!, backward.dbias, dx, dw, db, dg);
      return [
        compare(`layerNorm y [${shape}] eps ${eps}`, y!, expected.y, 1e-5, 1e-5),
        compare(`layerNorm mean [${shape}]`, mean!, expected.mean, 1e-6, 1e-5),
        compare(`layerNorm rstd [${shape}]`, rstd!, expected.rstd, 1e-6, 1e-5),
        compare(`layerNorm dx [${shape}] eps ${eps}`, gx!, expectedGrad.dx, 1e-5, 1e-4),
        compare(`layerNorm dweight [${shape}]`, gw!, expectedGrad.dweight, 1e-5, 1e-4),
        compare(`layerNorm dbias [${shape}]`, gb!, expectedGrad.dbias, 1e-5, 1e-5),
      ];
    });
  }

  await check('layerNorm without weight and bias', async () => {
    const shape = [4, 10];
    const x = randnOf(random, shape);
    const g = randnOf(random, shape);
    const ones = new Float32Array(10).fill(1);
    const expected = ref.layerNormRef(x, 10, ones, new Float32Array(10), 1e-5);
    const expectedGrad = ref.layerNormBackwardRef(g, x, 10, ones, 1e-5);
    const [dx, dg] = [upload(x, shape), upload(g, shape)];
    const forward = layerNorm(dx, null, null, 1e-5);
    const backward = layerNormBackward(dg, dx, null, forward.mean, forward.rstd);
    if (backward.dweight !== null) throw new Error('dweight should be null without a weight');
    const [y, gx, gb] = await readAndDispose(forward.y, backward.dx, backward.dbias, forward.mean, forward.rstd, dx, dg);
    return [
      compare('layerNorm y, no affine [4,10]', y!, expected.y, 1e-5, 1e-5),
      compare('layerNorm dx, no affine [4,10]', gx!, expectedGrad.dx, 1e-5, 1e-4),
      compare('layerNorm dbias, no affine [4,10]', gb!, expectedGrad.dbias, 1e-5, 1e-5),
    ];
  });

  // GELU (erf form), forward and backward, including the tails
  await check('gelu', async () => {
    const x = randnOf(random, [53], 3);
    x[0] = 0;
    x[1] = -8;
    x[2] = 8;
    const g = randnOf(random, [53]);
    const [dx, dg] = [upload(x, [53]), upload(g, [53])];
    const [y, gx] = await readAndDispose(gelu(dx), geluBackward(dx, dg), dx, dg);
    return [
      compare('gelu forward', y!, Array.from(x, ref.geluRef), 1e-6, 1e-5),
      compare('gelu backward', gx!, Array.from(x, (v, i) => g[i]! * ref.geluGradRef(v)), 1e-6, 1e-5),
    ];
  });

  // BitLinear quantizers; exact up to float32 rounding of the scales
  await check('absmean ternary', async () => {
    const shape = [13, 29];
    const w = randnOf(random, shape, 0.02);
    const expected = ref.absmeanTernaryRef(w);
    const dw = upload(w, shape);
    const { wq, gamma } = absmeanTernary(dw);
    const codes = ternaryCodes(dw, gamma);
    const [wqOut, gammaOut, codesOut] = await readAndDispose(wq, gamma, codes, dw);
    return [
      compare('absmean gamma [13,29]', gammaOut!, [expected.gamma], 0, 1e-6),
      compare('ternary codes [13,29]', codesOut!, expected.codes, 0, 0),
      compare('ternary wq [13,29]', wqOut!, expected.wq, 0, 1e-6),
    ];
  });
  await check('ternary codes round half to even', async () => {
    // mean |w| = 1, so gamma = 1 and w / gamma is exactly +-0.5, +-1.5 (ties) and +-1
    const w = new Float32Array([0.5, -0.5, 1.5, -1.5, 1, -1]);
    const dw = upload(w, [6]);
    const gamma = absmeanScale(dw);
    const [codes, gammaOut] = await readAndDispose(ternaryCodes(dw, gamma), gamma, dw);
    return [compare('ternary ties (gamma 1)', gammaOut!, [1], 0, 0), compare('ternary ties -> 0, 0, 1, -1, 1, -1', codes!, [0, 0, 1, -1, 1, -1], 0, 0)];
  });
  await check('act int8', async () => {
    const shape = [3, 5, 17];
    const x = randnOf(random, shape, 2);
    const expected = ref.absmaxQuantizeRef(x, 17);
    const dx = upload(x, shape);
    const { xq, scale } = actQuantInt8(dx);
    const [xqOut, scaleOut] = await readAndDispose(xq, scale, dx);
    return [compare('act int8 scale [3,5,17]', scaleOut!, expected.scale, 0, 1e-6), compare('act int8 xq [3,5,17]', xqOut!, expected.xq, 0, 1e-6)];
  });
  await check('absmax 4-bit per tensor, ternary per row', async () => {
    const shape = [6, 11];
    const x = randnOf(random, shape);
    const rowScales = ref.uniform(random, 6, 0.3, 1.2);
    const expected = ref.absmaxQuantizeRef(x, x.length, 7, 1e-5);
    const [dx, ds] = [upload(x, shape), upload(rowScales, [6])];
    const { q, scale } = absmaxQuantize(dx, x.length, 7, 1e-5);
    const [qOut, scaleOut, ternary] = await readAndDispose(q, scale, ternaryQuantize(dx, ds, 11), dx, ds);
    return [
      compare('absmax qmax 7 per tensor: scale', scaleOut!, expected.scale, 0, 1e-6),
      compare('absmax qmax 7 per tensor: q', qOut!, expected.xq, 0, 1e-6),
      compare('ternaryQuantize per row [6,11]', ternary!, ref.ternaryQuantizeRef(x, rowScales, 11), 0, 1e-6),
    ];
  });
  await check('act int8 round half to even', async () => {
    // absmax 127 makes s = 1, so x * s is exactly each tie; clip at 127 / -128
    const x = new Float32Array([127, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -127, 126.5, -0.49999997, 0]);
    const dx = upload(x, [1, 12]);
    const { xq, scale } = actQuantInt8(dx);
    const [out] = await readAndDispose(xq, scale, dx);
    return compare('act int8 ties', out!, [127, 0, 0, 2, -2, 2, -2, 4, -127, 126, 0, 0], 0, 0);
  });

  // one cached kernel fed inputs from different producers (an upload's 1-D texture, a binary op's 3-D
  // texture) and its own previous output: GL kernels must not trip over the changing texture layouts
  await check('same kernel, mixed producers', async () => {
    const shape = [5, 9];
    const x = randnOf(random, shape);
    const bias = randnOf(random, [9]);
    const [dx, db] = [upload(x, shape), upload(bias, [9])];
    let acc = binary('add', dx, db);
    for (let i = 0; i < 3; i++) {
      const next = binary('add', acc, db);
      acc.dispose();
      acc = next;
    }
    const [out] = await readAndDispose(acc, dx, db);
    return compare('add x + 4 * bias through one kernel', out!, Array.from(x, (v, i) => v + 4 * bias[i % 9]!), 1e-5, 1e-5);
  });

  // a chain that never leaves the device: y = softmax(layerNorm(gelu(x @ W^T + b)))
  let residentValue = '';
  await check('chain on device', async () => {
    const [T, Din, Dout] = [6, 10, 12];
    const x = randnOf(random, [T, Din]);
    const W = randnOf(random, [Dout, Din], 0.3);
    const bias = randnOf(random, [Dout], 0.1);
    const lnw = ref.uniform(random, Dout, 0.5, 1.5);
    const lnb = randnOf(random, [Dout], 0.1);
    const h = ref.binaryRefBroadcast(ref.binaryRef.add!, ref.matmulRef(x, [T, Din], W, [Dout, Din], false, true).data, [T, Dout], bias, [Dout]).data;
    const expected = ref.softmaxRef(ref.layerNormRef(Float32Array.from(h, ref.geluRef), Dout, lnw, lnb, 1e-5).y, Dout);
    const inputs = [upload(x, [T, Din]), upload(W, [Dout, Din]), upload(bias, [Dout]), upload(lnw, [Dout]), upload(lnb, [Dout])] as const;
    const projected = matmul(inputs[0], inputs[1], { transB: true });
    const resident = await projected.deviceValue();
    residentValue = (resident as object).constructor.name;
    const biased = binary('add', projected, inputs[2]);
    const activated = gelu(biased);
    const normed = layerNorm(activated, inputs[3], inputs[4], 1e-5);
    const y = softmax(normed.y);
    for (const a of [projected, biased, activated, normed.y, normed.mean, normed.rstd]) a.dispose();
    const [out] = await readAndDispose(y, ...inputs);
    return compare('chain matmul+bias+gelu+layerNorm+softmax', out!, expected, 1e-6, 1e-4);
  });

  return { info: device.info, results, residentValue, kernelCount: device.kernelCount, totalMs: now() - start };
}

function randnOf(random: () => number, shape: number[], scale = 1): Float32Array {
  return ref.randn(random, ref.sizeOf(shape), scale);
}
