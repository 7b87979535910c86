// Run by high-heap.test.ts in a process of its own: the same kernels with every block the heap
// hands out above 2 GiB (with `high`) or not; prints a checksum of all the results, which the
// test compares. (A byte address >= 2^31 is negative as an int32 and as `at >> 2`.)
import {
  Generator, Tensor, attention, backward, gelu, layerNorm, linear, matmul, randn, setGemmThreads, softmax, theHeap, threadTeam,
} from '../src/index.js';

const high = process.argv.includes('high');
if (high) theHeap().alloc(2 ** 31); // never touched, so never resident: only the addresses move
setGemmThreads(2);
threadTeam()!.grow(1, 5000); // the worker up before the first call, so it takes part in every one
const g = new Generator(7);
// inputs both in the heap (randn's pooled arrays) and in plain arrays (copied into scratch)
const x = randn([64, 256], { generator: g });
const plain = new Tensor(Float32Array.from(randn([64, 256], { generator: g }).data), [64, 256]);
const w = randn([256, 256], { generator: g });
const q = randn([2, 65, 192], { generator: g }), k = randn([2, 65, 192], { generator: g }), v = randn([2, 65, 192], { generator: g });
const leaf = randn([64, 256], { generator: g, requiresGrad: true });
const results: Tensor[] = [
  x.add(plain), gelu(plain), layerNorm(plain, null, null), softmax(x), matmul(x, w), matmul(plain, w), linear(plain, w),
  attention(q, k, v, { heads: 3 }),
];
backward(gelu(leaf).mul(plain).sum());
results.push(leaf.grad!);
const addresses = results.map((t) => theHeap().address(t.data));
let sum = 0;
results.forEach((t, i) => t.data.forEach((value, j) => (sum += value * (((i * 7919 + j) % 1009) + 1))));
const sums = results.map((t, i) => t.data.reduce((s, value, j) => s + value * (((i * 7919 + j) % 1009) + 1), 0));
console.log(JSON.stringify({ sum, sums, highest: Math.max(...addresses), workerUnits: threadTeam()!.workerUnits }));
process.exit(0);
