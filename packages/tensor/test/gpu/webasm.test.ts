// gpu.js kernels against the CPU references in Node. Here gpu.js has one
// backend that is not its CPU fallback: WebAssembly ('webasm'). Headless GL
// needs the `gl` native addon, which this workspace does not build, and the
// `webgpu` package's Dawn binary needs glibc 2.38 (Debian 12 has 2.36); see
// docs/gpu.md.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuDevice, binary, matmul } from '../../src/kernels/gpu/index.js';
import { runParity } from './parity.js';

describe('gpu kernels in Node (gpu.js webasm)', () => {
  let device: GpuDevice;

  beforeAll(async () => {
    device = await GpuDevice.create('auto');
  });

  afterAll(async () => {
    await device?.destroy();
  });

  it('auto picks WebAssembly in Node, and says so', () => {
    // a silent fallback to gpu.js's CPU kernels would report 'cpu' here
    expect(device.info).toMatchObject({ mode: 'webasm', requested: 'auto', isSoftware: true, isAsync: false });
  });

  it('every kernel matches the CPU reference', async () => {
    const report = await runParity(device);
    expect(report.info.mode).toBe('webasm');
    const failures = report.results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.worst} (${r.tolerance})`);
    expect(failures).toEqual([]);
    expect(report.results.length).toBeGreaterThan(100);
  }, 60_000);

  it('reads synchronously on a synchronous backend, and refuses disposed arrays', () => {
    const a = device.upload(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const b = device.upload(new Float32Array([10, 20, 30]), [3]);
    const c = binary('add', a, b);
    expect(Array.from(c.readSync())).toEqual([11, 22, 33, 14, 25, 36]);
    a.dispose();
    expect(() => binary('add', a, b)).toThrow(/^add:.*: input of shape \[2, 3\] was disposed$/);
    expect(() => a.readSync()).toThrow(/readSync: array of shape \[2, 3\] was disposed/);
    b.dispose();
    c.dispose();
  });

  it('names the shapes when they do not fit', () => {
    const a = device.upload(new Float32Array(6), [2, 3]);
    const b = device.upload(new Float32Array(8), [4, 2]);
    expect(() => matmul(a, b)).toThrow('matmul: [2,3] @ [4,2]: inner dims 3 and 4 differ');
    expect(() => binary('mul', a, b)).toThrow('mul: shapes [2,3] and [4,2] do not broadcast (dim 0: 2 vs 4)');
    expect(() => device.upload(new Float32Array(5), [2, 3])).toThrow('upload: 5 values do not fill shape [2, 3] (6 elements)');
    a.dispose();
    b.dispose();
  });

  it('compiles each kernel once per shape', async () => {
    const fresh = await GpuDevice.create('webasm');
    const a = fresh.upload(new Float32Array(12).fill(1), [3, 4]);
    expect(fresh.kernelCount).toBe(1); // the upload kernel
    const first = binary('add', a, a);
    expect(fresh.kernelCount).toBe(2);
    const second = binary('add', first, a);
    expect(fresh.kernelCount).toBe(2);
    expect(Array.from(second.readSync())).toEqual(new Array(12).fill(3));
    await fresh.destroy();
  });
});
