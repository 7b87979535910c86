// The gpu backend in Node, where gpu.js runs WebAssembly ('webasm'): selection, laziness, the
// mode really running, parity of every Backend method with the CPU backend, and GPU memory.
import { spawnSync } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/kernels/backend.js';
import {
  GpuStorage, Tensor, backendInfo, getBackend, gpuBackend, linear, randn, Generator, setBackend, tidy, zeros,
} from '../../src/index.js';
import { runBackendParity } from './backend-parity.js';

afterEach(() => {
  setBackend('cpu');
});

afterAll(async () => {
  await gpuBackend.close();
});

const srcIndex = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

// A fresh Node process (tsx for the TypeScript sources) that imports the package and prints JSON.
function runNode(code: string, env: Record<string, string> = {}): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: r.stdout.trim(), err: r.stderr };
}

describe('gpu backend in Node (gpu.js webasm)', () => {
  it('importing the package loads no gpu.js; selecting the backend does', () => {
    const r = runNode(`
      const m = await import(${JSON.stringify(srcIndex)});
      const { createRequire } = await import('node:module');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/gpu.js/'));
      const before = loaded();
      m.setBackend('gpu');
      console.log(JSON.stringify({ before, after: loaded(), info: m.backendInfo() }));
    `);
    expect(r.err).toBe('');
    const result = JSON.parse(r.out) as { before: boolean; after: boolean; info: { name: string; mode: string } };
    expect(result).toMatchObject({ before: false, after: true, info: { name: 'gpu', mode: 'webasm' } });
  });

  it('BITVIT_BACKEND selects the backend (and its mode) at startup', () => {
    const code = `const m = await import(${JSON.stringify(srcIndex)}); console.log(JSON.stringify(m.backendInfo()));`;
    expect(JSON.parse(runNode(code, { BITVIT_BACKEND: 'gpu' }).out)).toMatchObject({ name: 'gpu', mode: 'webasm' });
    expect(JSON.parse(runNode(code, { BITVIT_BACKEND: 'gpu:webasm' }).out)).toMatchObject({ name: 'gpu', mode: 'webasm' });
    expect(JSON.parse(runNode(code, { BITVIT_BACKEND: 'cpu' }).out)).toMatchObject({ name: 'cpu', mode: null });
    const bad = runNode(code, { BITVIT_BACKEND: 'gpu:webgl2' });
    expect(bad.status).not.toBe(0);
    expect(bad.err).toContain('BITVIT_BACKEND=gpu:webgl2: GpuDevice(webgl2): webgl2 is not available here');
  });

  it('setBackend(gpu) opens the mode that really runs, and refuses what it cannot run', () => {
    setBackend('gpu');
    // the mode is read off the probe kernel's class: a fallback to gpu.js's CPU kernels would say 'cpu'
    expect(backendInfo()).toEqual({ name: 'gpu', description: 'gpu (gpu.js webasm, software)', mode: 'webasm' });
    expect(gpuBackend.info).toMatchObject({ mode: 'webasm', isSoftware: true, isAsync: false });
    expect(getBackend()).toBe(gpuBackend);
    expect(() => setBackend('gpu', { mode: 'webgpu' })).toThrow(/WebGPU reads are asynchronous/);
    expect(() => setBackend('gpu', { mode: 'metal' })).toThrow('gpu backend: unknown mode "metal"');
    expect(() => setBackend('gpu', { mode: 'webgl2' })).toThrow(/GpuDevice\(webgl2\): webgl2 is not available here/);
    // a failed switch keeps what ran before
    expect(getBackend()).toBe(gpuBackend);
  });

  it('every Backend method matches the CPU backend (webasm)', () => {
    setBackend('gpu', { mode: 'webasm' });
    const report = runBackendParity();
    expect(report.backend.mode).toBe('webasm');
    const failures = report.results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.worst} (${r.tolerance})`);
    expect(failures).toEqual([]);
    // every method of the interface was called on the gpu backend
    const methods = Object.keys(gpuBackend).filter((k) => !['name', 'describe', 'start', 'load', 'mode', 'info', 'device', 'close'].includes(k));
    expect(report.methodsCovered).toEqual(methods.sort());
    expect(methods.length).toBe(24);
    console.log(`webasm: ${report.results.length} checks in ${Math.round(report.totalMs)} ms`);
  }, 60_000);

  it('results stay on the device until read, and one compiled kernel serves a shape', () => {
    setBackend('gpu');
    const device = gpuBackend.device!;
    const g = new Generator(3);
    const x = randn([8, 16], { generator: g });
    const w = randn([4, 16], { generator: g });
    const y = linear(x, w).relu().sum(1);
    expect(y.deviceStorage?.backend).toBe('gpu');
    const kernels = device.kernelCount;
    const again = linear(x, w).relu().sum(1);
    expect(device.kernelCount).toBe(kernels);
    expect(Array.from(again.data)).toEqual(Array.from(y.data));
    // .data moved it to the CPU
    expect(y.deviceStorage).toBeNull();
  });

  it('frees device memory of tensors nobody holds (FinalizationRegistry): no growth over 60 steps', async () => {
    setBackend('gpu');
    const device = gpuBackend.device!;
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const settle = async () => {
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 0)); // finalizers run after the collection
      }
    };
    const g = new Generator(5);
    const w = randn([32, 24], { generator: g, requiresGrad: true });
    const b = zeros([32], { requiresGrad: true });
    const x = randn([16, 24], { generator: g });
    const step = () => {
      const loss = linear(x, w, b).gelu().softmax(-1).mul(2).sum();
      loss.backward();
      const value = loss.item();
      // an SGD step on the CPU copies, as the optimizers do
      const wd = w.data;
      const gd = w.grad!.data;
      for (let i = 0; i < wd.length; i++) wd[i]! -= 0.01 * gd[i]!;
      w.zeroGrad();
      b.zeroGrad();
      return value;
    };
    for (let i = 0; i < 10; i++) step();
    await settle();
    const after10 = device.liveArrays;
    for (let i = 0; i < 50; i++) step();
    await settle();
    const after60 = device.liveArrays;
    console.log(`live device arrays after gc: ${after10} after 10 steps, ${after60} after 60`);
    expect(after60).toBeLessThanOrEqual(after10);
    expect(after60).toBeLessThan(10);
  }, 60_000);

  it('on webasm a pending finalizer does not keep a dropped result\'s data alive', async () => {
    setBackend('gpu', { mode: 'webasm' });
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const x = new Tensor(new Float32Array(4096).fill(1), [64, 64]);
    // made in a job of its own: a WeakRef keeps its target alive until the job that created it ends
    const data = (() => {
      const y = x.mul(2);
      return new WeakRef((y.deviceStorage as GpuStorage).array.deviceValue() as object);
    })();
    await new Promise((resolve) => setTimeout(resolve, 0));
    // no collection has run since, so no finalizer either: only the data's own reachability decides
    gc();
    expect(data.deref()).toBeUndefined();
  });

  it('tidy frees what a step made on the device, except what it returns', () => {
    setBackend('gpu');
    const device = gpuBackend.device!;
    const x = new Tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const before = device.liveArrays;
    let inner: Tensor | null = null;
    const { kept, value } = tidy(() => {
      inner = x.mul(2).exp();
      const nested = tidy(() => [x.add(1), x.sub(1)]);
      return { kept: nested[0]!.mul(x), value: inner.sum().item() };
    });
    // only the returned tensor is left on the device; the rest was freed at the scope's end
    expect(device.liveArrays).toBe(before + 1);
    expect(Array.from(kept.data)).toEqual([2, 6, 12, 20, 30, 42]);
    expect(value).toBeCloseTo([2, 4, 6, 8, 10, 12].reduce((s, v) => s + Math.exp(v), 0), 0);
    expect(() => inner!.data).toThrow('readSync: array of shape [2, 3] was disposed');
    // on the CPU backend too (the CPU side has tests of its own: tidy.test.ts)
    setBackend('cpu');
    expect(tidy(() => x.mul(2).sum().item())).toBe(42);
  });

  it('a gpu tensor feeds the CPU backend after a switch (read on use)', () => {
    setBackend('gpu');
    const a = new Tensor(Float32Array.from([1, 2, 3, 4]), [2, 2]);
    const onGpu = a.mul(3);
    setBackend('cpu');
    expect(Array.from(onGpu.add(1).data)).toEqual([4, 7, 10, 13]);
    const backend: Backend = gpuBackend;
    expect(backend.describe()).toContain('webasm');
  });
});
