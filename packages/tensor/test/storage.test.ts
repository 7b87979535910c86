// The storage pool (src/storage.ts) and the WebAssembly heap under it (src/kernels/wasm/heap.ts):
// recycled blocks, never one that is still alive, bounded when a loop never yields, and training
// that gives the same numbers with the pool on and off, in the heap and in ArrayBuffers.
// Recycling needs the garbage collector to run at a known moment, so those cases run in a fresh
// Node process with --expose-gc.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { allocFloats, setStoragePool, storagePoolStats } from '../src/storage.js';
import { Heap, theHeap } from '../src/kernels/wasm/heap.js';

const tensorIndex = new URL('../src/index.ts', import.meta.url).href;
const heapModule = new URL('../src/kernels/wasm/heap.ts', import.meta.url).href;
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

function runNode(code: string, flags = ['--expose-gc']): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: repoRoot, encoding: 'utf8', timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('Heap', () => {
  it('hands out aligned power-of-two blocks and reuses freed ones of the same size', () => {
    const h = new Heap(true);
    const a = h.alloc(100), b = h.alloc(100), c = h.alloc(5000);
    expect(Heap.blockBytes(100)).toBe(128);
    expect(Heap.blockBytes(5000)).toBe(8192);
    expect([a % 64, b % 64, c % 64]).toEqual([0, 0, 0]);
    expect(new Set([a, b, c]).size).toBe(3);
    expect(h.inUse).toBe(128 + 128 + 8192);
    h.free(b, 100);
    expect(h.alloc(120)).toBe(b); // same size class
    expect(h.alloc(100)).not.toBe(b);
  });

  it('keeps one copy of each vector constant, before the first block', () => {
    const h = new Heap(true);
    const one = [...new Uint8Array(Float32Array.of(1, 1, 1, 1).buffer)];
    const two = [...new Uint8Array(Float32Array.of(2, 2, 2, 2).buffer)];
    const at = h.constant(one);
    expect(h.constant(two)).toBe(at + 16);
    expect(h.constant(one)).toBe(at);
    expect([...h.floats(at, 8)]).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    expect(h.alloc(64)).toBeGreaterThanOrEqual(at + 4096 - 16);
  });

  it('knows its own arrays, also after growing', () => {
    const h = new Heap(true);
    const before = h.floats(h.alloc(400), 100);
    const big = h.alloc(64 << 20); // grows the memory
    const after = h.floats(big, 10);
    expect(h.address(before)).toBe(before.byteOffset);
    expect(h.address(after)).toBe(big);
    expect(h.address(new Float32Array(10))).toBe(-1);
    expect(h.address(theHeap().floats(theHeap().alloc(64), 4))).toBe(-1); // another heap's
  });
});

describe('allocFloats', () => {
  afterEach(() => setStoragePool({ enabled: true, capBytes: 1 << 29, inHeap: true }));

  it('gives arrays of the asked length, in the heap in Node; small ones are plain', () => {
    const before = storagePoolStats();
    expect(allocFloats(10).length).toBe(10);
    expect(storagePoolStats().plain).toBe(before.plain + 1);
    const big = allocFloats(5000);
    expect(big.length).toBe(5000);
    expect(big.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(theHeap().address(big)).toBe(big.byteOffset);
    expect(storagePoolStats().heapArrays).toBe(before.heapArrays + 1);
    setStoragePool({ inHeap: false });
    const own = allocFloats(5000);
    expect(own.buffer).toBeInstanceOf(ArrayBuffer);
    expect(own.buffer.byteLength).toBe(32768); // the size class: 20,000 + 64 bytes -> 2^15
  });

  it('stays under its cap when nothing is given back', () => {
    const start = storagePoolStats();
    setStoragePool({ capBytes: start.outstandingBytes + (1 << 20) });
    const held: Float32Array[] = [];
    for (let i = 0; i < 40; i++) held.push(allocFloats(16000)); // 64,064 bytes: blocks of 64 KiB, 16 fit in 1 MiB
    const s = storagePoolStats();
    expect(s.outstandingBytes - start.outstandingBytes).toBe(1 << 20);
    expect(s.plain - start.plain).toBe(24);
    expect(held.every((a) => a.length === 16000)).toBe(true);
  });

  it('is plain allocation when turned off, and refuses bad settings', () => {
    setStoragePool({ enabled: false });
    const before = storagePoolStats().plain;
    const a = allocFloats(100000);
    expect(storagePoolStats().plain).toBe(before + 1);
    expect(a.buffer).toBeInstanceOf(ArrayBuffer);
    expect(() => setStoragePool({ capBytes: -1 })).toThrow(/capBytes must be >= 0/);
    expect(() => setStoragePool({ collectAboveBytes: Number.NaN })).toThrow(/collectAboveBytes must be >= 0/);
  });
});

describe('recycling (fresh process)', () => {
  it('recycles what leaves a tidy() (returned, kept, or made by a fn that threw) once the collector finds it gone', () => {
    const r = runNode(`
      import { Tensor, keep, recycleMemory, tidy } from '${tensorIndex}';
      import { theHeap } from '${heapModule}';
      const heap = theHeap();
      const x = new Tensor(new Float32Array(8192).fill(1), [8192]);
      tidy(() => { x.mul(1); return null; }); // the kernels' scratch, made on first use
      const base = heap.inUse;
      (() => {
        tidy(() => x.mul(2)); // returned, then dropped
        tidy(() => { keep(x.mul(3)); return null; }); // kept, then dropped
        try { tidy(() => { x.mul(4); throw new Error('stop'); }); } catch {}
      })();
      const held = heap.inUse - base;
      globalThis.gc();
      await recycleMemory();
      console.log(JSON.stringify({ held, after: heap.inUse - base }));
    `);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { held: number; after: number };
    expect(out.held).toBe(3 * 65536); // three arrays of 8192 floats: blocks of 64 KiB
    expect(out.after).toBe(0);
  });

  it('reuses the blocks of arrays that are gone and never hands out a live one', () => {
    const r = runNode(`
      import { allocFloats, recycleMemory, storagePoolStats } from '${tensorIndex}';
      import { theHeap } from '${heapModule}';
      const heap = theHeap();
      const live = allocFloats(8192);
      for (let i = 0; i < live.length; i++) live[i] = i;
      const addresses = [];
      // in a function of its own, so no register of this one keeps the last array alive
      (() => { for (let i = 0; i < 20; i++) addresses.push(heap.address(allocFloats(8192).fill(7))); })();
      const inUseBefore = heap.inUse;
      globalThis.gc();
      await recycleMemory();
      const inUseAfter = heap.inUse;
      const size = heap.memory.buffer.byteLength;
      const again = [];
      for (let i = 0; i < 20; i++) again.push(allocFloats(8192));
      for (const a of again) a.fill(-1);
      let liveOk = true;
      for (let i = 0; i < live.length; i++) if (live[i] !== i) liveOk = false;
      console.log(JSON.stringify({
        freed: inUseBefore - inUseAfter,
        reused: again.filter((a) => addresses.includes(heap.address(a))).length,
        grew: heap.memory.buffer.byteLength !== size,
        reusedLive: again.some((a) => heap.address(a) === heap.address(live)), liveOk,
      }));
    `);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { freed: number; reused: number; grew: boolean; reusedLive: boolean; liveOk: boolean };
    expect(out.freed).toBe(20 * 65536); // 32,768 + 64 bytes: blocks of 64 KiB
    expect(out.reused).toBe(20);
    expect(out.grew).toBe(false);
    expect(out.reusedLive).toBe(false);
    expect(out.liveOk).toBe(true);
  });

  it('collects by itself in recycleMemory once enough is out', () => {
    // no --expose-gc: recycleMemory must find V8's collection on its own
    const r = runNode(`
      import { allocFloats, recycleMemory, setStoragePool, storagePoolStats } from '${tensorIndex}';
      setStoragePool({ collectAboveBytes: 4 << 20 });
      (() => { for (let i = 0; i < 40; i++) allocFloats(65536).fill(1); })(); // 40 blocks of 512 KiB
      const out = storagePoolStats().outstandingBytes;
      await recycleMemory();
      console.log(JSON.stringify({ out, after: storagePoolStats().outstandingBytes }));
    `, []);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { out: number; after: number };
    expect(out.out).toBe(40 * 524288);
    expect(out.after).toBeLessThan(out.out / 4);
  });

  it('zeroes a recycled block when asked', () => {
    const r = runNode(`
      import { allocFloats, recycleMemory } from '${tensorIndex}';
      (() => allocFloats(10000).fill(3))();
      globalThis.gc();
      await recycleMemory();
      const z = allocFloats(10000, true);
      (() => allocFloats(10000).fill(5))();
      globalThis.gc();
      await recycleMemory();
      const u = allocFloats(10000);
      console.log(JSON.stringify({ zeros: z.every((v) => v === 0), oldValues: u[0] }));
    `);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { zeros: boolean; oldValues: number };
    expect(out.zeros).toBe(true);
    expect(out.oldValues).toBe(5); // not zeroed: the contents are unspecified, and here the old ones
  });

  it('trains to the same bits with the pool off, on in the heap and on in ArrayBuffers', () => {
    const r = runNode(`
      import { Generator, randn, randint, matmul, relu, logSoftmax, layerNorm, recycleMemory, setStoragePool, storagePoolStats } from '${tensorIndex}';
      async function run(settings) {
        setStoragePool(settings);
        const g = new Generator(1);
        const w1 = randn([96, 256], { generator: g }).mul(0.1); w1.requiresGrad = true;
        const w2 = randn([256, 10], { generator: g }).mul(0.1); w2.requiresGrad = true;
        const x = randn([128, 96], { generator: g });
        const y = randint(0, 10, [128], { generator: g });
        const losses = [];
        for (let step = 0; step < 6; step++) {
          const h = layerNorm(relu(matmul(x, w1)), null, null);
          const logp = logSoftmax(matmul(h, w2), -1);
          const loss = logp.gather(1, y.reshape([128, 1])).mean().neg();
          w1.grad = null; w2.grad = null;
          loss.backward();
          for (const w of [w1, w2]) { const d = w.data, gd = w.grad.data; for (let i = 0; i < d.length; i++) d[i] -= 0.5 * gd[i]; }
          losses.push(loss.item());
          globalThis.gc();
          await recycleMemory();
        }
        return losses;
      }
      const off = await run({ enabled: false });
      const heap = await run({ enabled: true, inHeap: true });
      const buffers = await run({ enabled: true, inHeap: false });
      console.log(JSON.stringify({ off, heap, buffers, stats: storagePoolStats() }));
    `);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { off: number[]; heap: number[]; buffers: number[]; stats: { hits: number; heapArrays: number } };
    expect(out.heap).toEqual(out.off);
    expect(out.buffers).toEqual(out.off);
    expect(out.stats.heapArrays).toBeGreaterThan(20);
    expect(out.stats.hits).toBeGreaterThan(10);
  });
});
