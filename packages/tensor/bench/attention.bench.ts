// The attention op (src/ops/attention.ts) fused against its unfused composite (split the heads,
// q k^T, scale, softmax, times v, merge), forward only, at two shapes: vit-tiny-32 at batch 1 and
// vit-mnist at batch 64. Each call is one layer's attention; 12 calls per turn of the event loop
// (the storage pool recycles then). Medians and ranges of 7 rounds, the two in turns.
//
//   cd /work/main && node scripts/bench.mjs attention
import { Generator, attention, attentionComposite, kernelThreads, noGrad, randn, recycleMemory } from '../src/index.js';

const g = new Generator(1);
console.log(`node ${process.version}, kernel threads ${kernelThreads()}; us per call, median (min-max) of 7 rounds`);
for (const [name, b, t, heads, d] of [['vit-tiny-32, batch 1', 1, 65, 3, 64], ['vit-mnist, batch 64', 64, 17, 4, 16]] as const) {
  await recycleMemory();
  const [q, k, v] = [0, 1, 2].map(() => randn([b, t, heads * d], { generator: g })) as [ReturnType<typeof randn>, ReturnType<typeof randn>, ReturnType<typeof randn>];
  const scale = 1 / Math.sqrt(d);
  const paths: Record<string, () => unknown> = {
    fused: () => attention(q, k, v, { heads }),
    composite: () => attentionComposite(q, k, v, heads, scale),
  };
  const times: Record<string, number[]> = {};
  for (let round = 0; round < 7; round++) {
    for (const [path, run] of Object.entries(paths)) {
      const start = performance.now();
      for (let i = 0; i < 20; i++) {
        for (let j = 0; j < 12; j++) noGrad(run);
        await recycleMemory();
      }
      (times[path] ??= []).push(((performance.now() - start) / 240) * 1000);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  const line = (path: string): string => `${median(times[path]!).toFixed(1)} (${Math.min(...times[path]!).toFixed(1)}-${Math.max(...times[path]!).toFixed(1)})`;
  console.log(`${name} [${b}, ${t}, ${heads} x ${d}]: fused ${line('fused')}, composite ${line('composite')}, ` +
    `${(median(times['composite']!) / median(times['fused']!)).toFixed(2)}x`);
}
