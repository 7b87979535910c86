// Run by high-heap.test.ts in a process of its own: TernaryLinear on each kernel (dot, unrolled,
// table), on two threads, with every block of the tensor heap above 2 GiB (with `high`) or not;
// prints a checksum per kernel, which the test compares.
import { Generator, Tensor, enableRelaxedSimd, noGrad, randn, theHeap, threadTeam } from '@bitvit/tensor';
import { TernaryLinear } from '../src/ternary-linear.js';
import { setTernaryThreads } from '../src/kernels/ternary-runtime.js';
import { packI2 } from '../src/packing.js';

const high = process.argv.includes('high');
enableRelaxedSimd();
if (high) theHeap().alloc(2 ** 31); // never touched, so never resident: only the addresses move
setTernaryThreads(2);
threadTeam()!.grow(1, 5000); // the worker up before the first call, so it takes part in every one
const g = new Generator(11);
const layer = (inF: number, outF: number, seed: number): TernaryLinear => {
  const codes = Int8Array.from({ length: inF * outF }, (_, i) => (((i * 2654435761 + seed) >>> 7) % 3) - 1);
  return new TernaryLinear({
    inFeatures: inF, outFeatures: outF, packed: packI2(codes, outF, inF), weightScale: Float32Array.from({ length: outF }, (_, o) => 0.01 + o / 1000),
    bias: Float32Array.from({ length: outF }, (_, o) => o / 100), activationBits: 8,
  });
};
const layers = [layer(64, 100, 1), layer(64, 64, 2), layer(64, 37, 3)];
const x = randn([2, 600, 64], { generator: g }); // in the heap
const plain = new Tensor(Float32Array.from(randn([1200, 64], { generator: g }).data), [1200, 64]); // copied in
const checksum = (ts: Tensor[]): number => ts.reduce((s, t, i) => t.data.reduce((a, v, j) => a + v * (((i * 7919 + j) % 1009) + 1), s), 0);
const sums: Record<string, number> = {};
const modes = { dot: [1, Infinity], unrolled: [Infinity, 0], table: [Infinity, Infinity] } as const;
for (const [name, [dotMin, unrolledMin]] of Object.entries(modes)) {
  TernaryLinear.dotMinTokens = dotMin;
  TernaryLinear.unrolledMinTokens = unrolledMin;
  const kernel = layers[0]!.kernelFor(1200).kernel;
  const outs = noGrad(() => [...layers.map((l) => l.forward(x)), ...layers.map((l) => l.forward(plain)), ...layers[0]!.forwardGroup(layers, x)]);
  sums[`${name} (${kernel})`] = checksum(outs);
}
console.log(JSON.stringify({ sums, workerUnits: threadTeam()!.workerUnits }));
process.exit(0);
