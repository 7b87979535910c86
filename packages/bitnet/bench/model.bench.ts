// The same ViT four ways, forward only (eval mode, under noGrad, each call inside tidy()), at batch 1 and 64:
//   float32     the plain model: every Linear on the tensor package's float GEMM (WebAssembly SIMD),
//               its weights packed once for the GEMM (prepackLinears): our fastest float path
//   float32 (no prepack)  the same model packing each weight on every call (a plain Linear)
//   fake-quant  converted to BitLinear: quantizes weights and activations, then the same float GEMM
//   packed      toPacked: TernaryLinear layers, int8 activations on the dot kernel (kernels/ternary-dot.ts)
// Images/s from the median over rounds. In a round each path runs call after call for --min-ms
// (see timeRound), in an order that rotates from round to round; the round gives each path's mean
// per call.
//
//   cd /work/main && node scripts/bench.mjs model
//   flags (no "--" before them): --models vit-mnist,vit-tiny-32  --batches 1,64  --rounds 5  --min-ms 200
//
// Then each Linear shape of the model alone: the float GEMM against the TernaryLinear that
// replaced it, on the same input, with the rows the layer sees in the model (every token, or the
// CLS tokens for the classifier), rounds of --min-ms / 4. Last, for the float32 and the packed
// model, where the time goes: exclusive time per kind of module (a wrapper around every module's
// forward, child time subtracted), over 20 calls at batch 1 and 2 at larger batches, the two
// models one after the other (noisier than the tables above).
// "Linear weight bytes per image" is what one forward reads of the Linear weights (float32: 4 bytes
// each; packed: the i2 bytes, padded as the kernel keeps them, plus scales, or, for layers on the
// unrolled kernel (many tokens), the size of their compiled code), divided by the batch.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Generator, noGrad, randn, recycleMemory, tidy, type Tensor } from '@bitvit/tensor';
import { Linear, Module, prepackLinears } from '@bitvit/nn';
import { createModel, presetConfig } from '@bitvit/vit';
import { BitLinear } from '../src/bitlinear.js';
import { convertToBitNet } from '../src/convert.js';
import { toPacked } from '../src/packed.js';
import { TernaryLinear } from '../src/ternary-linear.js';
import { ternaryThreads } from '../src/kernels/ternary-wasm.js';

const { values: flags } = parseArgs({
  options: {
    models: { type: 'string', default: 'vit-mnist,vit-tiny-32' },
    batches: { type: 'string', default: '1,64' },
    rounds: { type: 'string', default: '5' },
    'min-ms': { type: 'string', default: '200' },
  },
  strict: false,
});
const MODELS = String(flags.models).split(',');
const BATCHES = String(flags.batches).split(',').map(Number);
const ROUNDS = Number(flags.rounds);
const MIN_MS = Number(flags['min-ms']);

type Model = ReturnType<typeof createModel>;
const PATHS = ['float32', 'float32 (no prepack)', 'fake-quant', 'packed'] as const;
type Path = (typeof PATHS)[number];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * One round: each path in turn runs call after call until it has run minMs (at least one call,
 * after one untimed call), as a server running that one model would; returns the mean ms per call
 * of each. The order rotates from round to round, so a change in the machine's load over a round
 * does not always hit the same path. (Taking turns call by call, as this did before, runs four
 * models' weights, ~65 MiB for vit-tiny-32, through the caches between two calls of one model:
 * every path then reads its weights from memory, which a deployed model would not.)
 */
async function timeRound<K extends string>(run: Record<K, () => void>, round: number, minMs = MIN_MS): Promise<Record<K, number>> {
  const keys = Object.keys(run) as K[];
  const order = keys.map((_, i) => keys[(i + round) % keys.length]!);
  const result = {} as Record<K, number>;
  for (const k of order) {
    run[k]();
    await recycleMemory();
    let spent = 0, calls = 0;
    do {
      // each call then yields to the storage pool, timed, as a program serving requests does
      // (packages/tensor/src/storage.ts); a loop that never yields runs on plain arrays
      const start = performance.now();
      run[k]();
      await recycleMemory();
      spent += performance.now() - start;
      calls++;
    } while (spent < minMs);
    result[k] = spent / calls;
  }
  return result;
}

/** The four models with the same latent weights. */
function models(name: string): Record<Path, Model> {
  const float = createModel(presetConfig(name), { generator: new Generator(0) }).eval();
  prepackLinears(float);
  const unpacked = createModel(presetConfig(name), { generator: new Generator(0) }).eval();
  const fake = createModel(presetConfig(name), { generator: new Generator(0) });
  convertToBitNet(fake);
  fake.eval();
  const packed = createModel(presetConfig(name), { generator: new Generator(0) });
  convertToBitNet(packed);
  toPacked(packed);
  return { float32: float, 'float32 (no prepack)': unpacked, 'fake-quant': fake, packed };
}

/** Bytes of Linear weights one forward reads: float32 values, or packed codes and scales. */
function linearWeightBytes(m: Model, x: Tensor): number {
  // the rows each TernaryLinear sees in this forward decide its kernel (and what it reads)
  const rows = new Map<TernaryLinear, number>();
  const hooks = m.namedModules().filter(([, t]) => t instanceof TernaryLinear).map(([, t]) =>
    (t as TernaryLinear).registerForwardHook((mod, args) => void rows.set(mod as TernaryLinear, (args[0] as Tensor).size / (mod as TernaryLinear).inFeatures)));
  if (hooks.length) noGrad(() => m.forward(x));
  for (const h of hooks) h.remove();
  let bytes = 0;
  for (const [, mod] of m.namedModules()) {
    if (mod instanceof Linear || mod instanceof BitLinear) bytes += mod.weight.size * 4;
    else if (mod instanceof TernaryLinear) bytes += mod.kernelFor(rows.get(mod) ?? 1).bytes;
  }
  return bytes;
}

/** The kind of work a module does itself (its children's time is counted for them). */
function kindOf(m: Module): string {
  if (m instanceof TernaryLinear) return 'ternary linear';
  if (m instanceof BitLinear) return 'fake-quant linear';
  if (m instanceof Linear) return 'float linear';
  const t = m.typeName;
  if (t.endsWith('SelfAttention')) return 'attention core (QK^T, softmax, AV, heads)';
  if (t === 'LayerNorm' || t === 'RMSNorm') return 'norms';
  if (t === 'GELU') return 'GELU';
  if (t === 'Conv2d' || t.endsWith('PatchEmbeddings') || t.endsWith('Embeddings')) return 'patch embedding + tokens';
  return 'rest (residual adds, dropout, glue)';
}

/** Exclusive ms per kind of module over `calls` forwards. */
function profile(model: Model, x: Tensor, calls: number): Map<string, number> {
  const totals = new Map<string, number>();
  const stack: number[] = []; // child time of each open call
  const restore: Array<() => void> = [];
  for (const [, m] of model.namedModules()) {
    const self = m as unknown as { forward?: (...a: unknown[]) => unknown };
    const inner = self.forward;
    if (typeof inner !== 'function') continue;
    const kind = kindOf(m);
    self.forward = (...args: unknown[]): unknown => {
      stack.push(0);
      const start = performance.now();
      const out = inner.apply(m, args);
      const elapsed = performance.now() - start;
      const children = stack.pop()!;
      totals.set(kind, (totals.get(kind) ?? 0) + elapsed - children);
      if (stack.length) stack[stack.length - 1]! += elapsed;
      return out;
    };
    restore.push(() => (self.forward = inner));
  }
  for (let i = 0; i < calls; i++) noGrad(() => model.forward(x));
  for (const r of restore) r();
  for (const [k, v] of totals) totals.set(k, v / calls);
  return totals;
}

const fmt = (v: number, digits = 1): string => v.toFixed(digits);
const kib = (b: number): string => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, r] of rows.entries()) {
    console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

console.log(
  `node ${process.version}, ${os.cpus().length} cores (load ${os.loadavg()[0]!.toFixed(1)}), ternary kernel threads ${ternaryThreads()}, ` +
    `${ROUNDS} rounds of >= ${MIN_MS} ms per path, forward only, eval, noGrad; medians (min-max)`,
);
for (const name of MODELS) {
  const c = presetConfig(name);
  const m = models(name);
  const tokens = c.numPatches + 1;
  console.log(`\n${name}: width ${c.hiddenSize}, ${c.numHiddenLayers} layers, MLP ${c.intermediateSize}, ${tokens} tokens, ${c.numLabels} classes`);
  const rows: string[][] = [['batch', 'path', 'ms/forward', 'images/s', 'x float32', 'x float32 (best rounds)', 'Linear weight bytes/image']];
  for (const batch of BATCHES) {
    const x = randn([batch, c.numChannels, c.imageSize, c.imageSize], { generator: new Generator(1) });
    const warm = performance.now();
    for (const p of PATHS) noGrad(() => m[p].forward(x)); // warm up: JIT, kernel set-up, arenas
    // A forward of seconds (vit-tiny-32 at batch 64) gets 3 rounds, to stay within about 2 minutes.
    const rounds = performance.now() - warm > 3000 ? Math.min(ROUNDS, 3) : ROUNDS;
    // each forward inside tidy(), as a server would run it: its activations go back to the storage
    // pool at once (without, a full garbage collection every few forwards frees them)
    const run = Object.fromEntries(PATHS.map((p) => [p, () => void tidy(() => noGrad(() => m[p].forward(x)))])) as Record<Path, () => void>;
    const times = Object.fromEntries(PATHS.map((p) => [p, [] as number[]])) as Record<Path, number[]>;
    for (let r = 0; r < rounds; r++) {
      const t = await timeRound(run, r);
      for (const p of PATHS) times[p].push(t[p]);
    }
    const floatMs = median(times.float32);
    const floatBest = Math.min(...times.float32);
    for (const p of PATHS) {
      const ms = median(times[p]);
      const range = `${fmt(Math.min(...times[p]), 2)}-${fmt(Math.max(...times[p]), 2)}`;
      rows.push([
        String(batch), p, `${fmt(ms, 2)} (${range})`, fmt((batch * 1000) / ms), `${(floatMs / ms).toFixed(2)}x`,
        `${(floatBest / Math.min(...times[p])).toFixed(2)}x`, kib(linearWeightBytes(m[p], x) / batch),
      ]);
    }
  }
  printTable(rows);

  // The layers alone, on the model's shapes and token counts: the float GEMM (linear() on the
  // float model's weights) against the TernaryLinear that replaced it, on the same input.
  const layerRows: string[][] = [['in -> out', 'tokens', 'float32 linear ms', 'ternary ms', 'x float32', 'best rounds']];
  const floatLayers = new Map(m.float32.namedModules().filter(([, l]) => l instanceof Linear) as Array<[string, Linear]>);
  const layers = new Map<string, { name: string; layer: TernaryLinear; rowsPerImage: number }>();
  for (const [name, t] of m.packed.namedModules()) {
    if (t instanceof TernaryLinear && !layers.has(`${t.inFeatures}x${t.outFeatures}`)) layers.set(`${t.inFeatures}x${t.outFeatures}`, { name, layer: t, rowsPerImage: 0 });
  }
  // rows (tokens) each layer sees per image: all tokens, or only CLS for the classifier
  const probe = [...layers.values()].map((l) => l.layer.registerForwardHook((_m, args) => (l.rowsPerImage = (args[0] as Tensor).size / l.layer.inFeatures)));
  noGrad(() => m.packed.forward(randn([1, c.numChannels, c.imageSize, c.imageSize], { generator: new Generator(1) })));
  for (const h of probe.reverse()) h.remove();
  for (const { name, layer: t, rowsPerImage } of layers.values()) {
    const lin = floatLayers.get(name)!;
    for (const batch of BATCHES) {
      const x = randn([batch * rowsPerImage, t.inFeatures], { generator: new Generator(2) });
      const run = { float32: () => void tidy(() => noGrad(() => lin.forward(x))), ternary: () => void tidy(() => t.forward(x)) };
      run.float32();
      run.ternary();
      const times = { float32: [] as number[], ternary: [] as number[] };
      for (let r = 0; r < ROUNDS; r++) {
        const tr = await timeRound(run, r, MIN_MS / 4);
        times.float32.push(tr.float32);
        times.ternary.push(tr.ternary);
      }
      const f = median(times.float32);
      const q = median(times.ternary);
      layerRows.push([
        `${t.inFeatures} -> ${t.outFeatures}`, String(batch * rowsPerImage), fmt(f, 3), fmt(q, 3), `${(f / q).toFixed(2)}x`,
        `${(Math.min(...times.float32) / Math.min(...times.ternary)).toFixed(2)}x`,
      ]);
    }
  }
  console.log('');
  printTable(layerRows);

  for (const batch of BATCHES) {
    const x = randn([batch, c.numChannels, c.imageSize, c.imageSize], { generator: new Generator(1) });
    const calls = batch === 1 ? 20 : 2;
    const split = { float32: profile(m.float32, x, calls), packed: profile(m.packed, x, calls) };
    const kinds = [...new Set([...split.float32.keys(), ...split.packed.keys()])];
    const total = (t: Map<string, number>): number => [...t.values()].reduce((a, b) => a + b, 0);
    const rowsP: string[][] = [[`batch ${batch}: ms/forward by module kind`, 'float32', 'share', 'packed', 'share']];
    for (const k of kinds) {
      const f = split.float32.get(k) ?? 0;
      const q = split.packed.get(k) ?? 0;
      rowsP.push([k, fmt(f, 3), `${fmt((100 * f) / total(split.float32))}%`, fmt(q, 3), `${fmt((100 * q) / total(split.packed))}%`]);
    }
    rowsP.push(['total (with timing wrappers)', fmt(total(split.float32), 3), '', fmt(total(split.packed), 3), '']);
    console.log('');
    printTable(rowsP);
  }
}
console.log('\nfloat32 and fake-quant use the tensor package GEMM; packed uses TernaryLinear: int8 activations on the dot kernel (relaxed SIMD\'s byte dot product, or plain SIMD\'s int16 one without it).');
