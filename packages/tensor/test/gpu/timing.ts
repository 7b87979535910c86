// Timings of the gpu kernels at ViT-tiny sizes (197 tokens incl. CLS, width 192,
// MLP 768, 3 heads), for docs/gpu.md. Each row: the first call (shader
// compile + run + read) and the median of later calls (run + read back).
// The machine is shared: medians of 5 rounds, in one page, one after another.
import { actQuantInt8, absmeanTernary, binary, gelu, type GpuArray, type GpuDevice, layerNorm, matmul, softmax } from '../../src/kernels/gpu/index.js';
import { randn, seededRandom } from './reference.js';

export interface TimingRow {
  name: string;
  firstMs: number;
  medianMs: number;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

export async function runTimings(device: GpuDevice, rounds = 5): Promise<TimingRow[]> {
  const random = seededRandom(7);
  const tensor = (shape: number[], scale = 1) => device.upload(randn(random, shape.reduce((p, d) => p * d, 1), scale), shape);
  const [T, D, H, hidden] = [197, 192, 3, 768];
  const x = tensor([T, D]);
  const w = tensor([D, D], 0.05);
  const wUp = tensor([hidden, D], 0.05);
  const bias = tensor([D], 0.1);
  const lnWeight = tensor([D]);
  const scores = tensor([H, T, T]);
  const hiddenActs = tensor([T, hidden]);
  const q = tensor([H, T, D / H]);
  const rows: TimingRow[] = [];

  const time = async (name: string, op: () => GpuArray[]) => {
    const samples: number[] = [];
    let firstMs = 0;
    for (let round = 0; round <= rounds; round++) {
      const t0 = now();
      const outputs = op();
      await Promise.all(outputs.map((o) => o.read()));
      const ms = now() - t0;
      for (const o of outputs) o.dispose();
      if (round === 0) firstMs = ms;
      else samples.push(ms);
    }
    samples.sort((a, b) => a - b);
    rows.push({ name, firstMs: round1(firstMs), medianMs: round1(samples[Math.floor(samples.length / 2)]!) });
  };

  await time(`upload + read [${T},${D}]`, () => [device.upload(new Float32Array(T * D), [T, D])]);
  await time(`matmul [${T},${D}] @ [${D},${D}]^T (q/k/v projection)`, () => [matmul(x, w, { transB: true })]);
  await time(`matmul [${T},${D}] @ [${hidden},${D}]^T (MLP up)`, () => [matmul(x, wUp, { transB: true })]);
  await time(`matmul [${T},${D}]^T @ [${T},${hidden}] (weight gradient)`, () => [matmul(x, hiddenActs, { transA: true })]);
  await time(`batched matmul [${H},${T},${D / H}] @ [${H},${T},${D / H}]^T (attention scores)`, () => [matmul(q, q, { transB: true })]);
  await time(`softmax [${H},${T},${T}]`, () => [softmax(scores)]);
  await time(`add bias [${T},${D}] + [${D}]`, () => [binary('add', x, bias)]);
  await time(`gelu [${T},${hidden}]`, () => [gelu(hiddenActs)]);
  await time(`layerNorm [${T},${D}]`, () => {
    const out = layerNorm(x, lnWeight, bias, 1e-12);
    return [out.y, out.mean, out.rstd];
  });
  await time(`absmean ternary [${hidden},${D}]`, () => {
    const out = absmeanTernary(wUp);
    return [out.wq, out.gamma];
  });
  await time(`act int8 [${T},${D}]`, () => {
    const out = actQuantInt8(x);
    return [out.xq, out.scale];
  });
  // ten ops chained on the device, one read at the end: what pipeline mode saves
  await time(`10 chained adds [${T},${D}], one read`, () => {
    let acc = binary('add', x, bias);
    for (let i = 0; i < 9; i++) {
      const next = binary('add', acc, bias);
      acc.dispose();
      acc = next;
    }
    return [acc];
  });
  for (const a of [x, w, wUp, bias, lnWeight, scores, hiddenActs, q]) a.dispose();
  return rows;
}

const round1 = (ms: number) => Math.round(ms * 10) / 10;
