// The storage pool (src/storage.ts): recycled arrays, never one that is still alive, bounded when
// a loop never yields, and training that gives the same numbers with the pool on and off.
// Recycling needs the garbage collector to run at a known moment, so those cases run in a fresh
// Node process with --expose-gc.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { allocFloats, setStoragePool, storagePoolStats } from '../src/storage.js';

const tensorIndex = new URL('../src/index.ts', import.meta.url).href;
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

function runNode(code: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: repoRoot, encoding: 'utf8', timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('allocFloats', () => {
  afterEach(() => setStoragePool({ enabled: true, capBytes: 1 << 30 }));

  it('gives arrays of the asked length; small ones are plain', () => {
    const before = storagePoolStats();
    expect(allocFloats(10).length).toBe(10);
    expect(storagePoolStats().plain).toBe(before.plain + 1);
    const big = allocFloats(5000);
    expect(big.length).toBe(5000);
    expect(big.buffer.byteLength).toBe(32768); // the size class: the next power of two in bytes
    expect(storagePoolStats().misses).toBe(before.misses + 1);
  });

  it('stays under its cap when nothing is given back', () => {
    const start = storagePoolStats();
    setStoragePool({ capBytes: start.outstandingBytes + (1 << 20) });
    const held: Float32Array[] = [];
    for (let i = 0; i < 40; i++) held.push(allocFloats(16384)); // 64 KiB each: 16 fit in 1 MiB
    const s = storagePoolStats();
    expect(s.outstandingBytes - start.outstandingBytes).toBe(1 << 20);
    expect(s.plain - start.plain).toBe(24);
    expect(held.every((a) => a.length === 16384)).toBe(true);
  });

  it('is plain allocation when turned off', () => {
    setStoragePool({ enabled: false });
    const before = storagePoolStats().plain;
    allocFloats(100000);
    expect(storagePoolStats().plain).toBe(before + 1);
    expect(() => setStoragePool({ capBytes: -1 })).toThrow(/capBytes must be >= 0/);
  });
});

describe('recycling (fresh process, forced garbage collection)', () => {
  it('reuses the buffers of arrays that are gone, zeroes them when asked, and never hands out a live one', () => {
    const r = runNode(`
      import { allocFloats, recycleMemory, storagePoolStats } from '${tensorIndex}';
      const live = allocFloats(8192);
      for (let i = 0; i < live.length; i++) live[i] = i;
      const liveBuffer = live.buffer;
      // in a function of its own, so no register of this one keeps the last array alive
      (() => { for (let i = 0; i < 20; i++) allocFloats(8192).fill(7); })();
      globalThis.gc();
      globalThis.gc();
      await recycleMemory();
      const s1 = storagePoolStats();
      const again = [];
      for (let i = 0; i < 20; i++) again.push(allocFloats(8192));
      const s2 = storagePoolStats();
      for (const a of again) a.fill(-1);
      let liveOk = true;
      for (let i = 0; i < live.length; i++) if (live[i] !== i) liveOk = false;
      console.log(JSON.stringify({
        freeAfterGc: s1.freeBytes, hits: s2.hits - s1.hits,
        reusedLive: again.some((a) => a.buffer === liveBuffer), liveOk,
      }));
    `);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { freeAfterGc: number; hits: number; reusedLive: boolean; liveOk: boolean };
    expect(out.freeAfterGc).toBe(20 * 32768);
    expect(out.hits).toBe(20);
    expect(out.reusedLive).toBe(false);
    expect(out.liveOk).toBe(true);
  });

  it('zeroes a recycled buffer when asked', () => {
    const r = runNode(`
      import { allocFloats, recycleMemory } from '${tensorIndex}';
      (() => allocFloats(10000).fill(3))();
      globalThis.gc();
      globalThis.gc();
      await recycleMemory();
      const z = allocFloats(10000, true);
      (() => allocFloats(10000).fill(5))();
      globalThis.gc();
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

  it('trains to the same bits with the pool on and off', () => {
    const r = runNode(`
      import { Tensor, Generator, randn, randint, matmul, relu, logSoftmax, recycleMemory, setStoragePool, storagePoolStats } from '${tensorIndex}';
      async function run(pool) {
        setStoragePool({ enabled: pool });
        const g = new Generator(1);
        const w1 = randn([96, 256], { generator: g }).mul(0.1); w1.requiresGrad = true;
        const w2 = randn([256, 10], { generator: g }).mul(0.1); w2.requiresGrad = true;
        const x = randn([128, 96], { generator: g });
        const y = randint(0, 10, [128], { generator: g });
        const losses = [];
        for (let step = 0; step < 6; step++) {
          const logp = logSoftmax(matmul(relu(matmul(x, w1)), w2), -1);
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
      const off = await run(false);
      const on = await run(true);
      console.log(JSON.stringify({ off, on, hits: storagePoolStats().hits }));
    `);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { off: number[]; on: number[]; hits: number };
    expect(out.on).toEqual(out.off);
    expect(out.hits).toBeGreaterThan(10);
  });
});
