// gpu.js kernels on headless GL (WebGL 1 through the `gl` native addon) in Node.
// The workspace does not build `gl` (pnpm-workspace.yaml: allowBuilds gl: false;
// its ANGLE build takes about 3 minutes here), so this runs only where someone
// built it and a display exists (`xvfb-run -a`); see docs/gpu.md.
import { GPU } from 'gpu.js';
import { describe, expect, it } from 'vitest';
import { GpuDevice } from '../../src/kernels/gpu/index.js';
import { gpuBackend, setBackend } from '../../src/index.js';
import { runBackendParity } from './backend-parity.js';
import { runParity } from './parity.js';

describe.skipIf(!GPU.isHeadlessGLSupported)('gpu kernels on headless GL (Node)', () => {
  it('every kernel matches the CPU reference', async () => {
    const device = await GpuDevice.create('headlessgl');
    try {
      const report = await runParity(device);
      expect(report.info.mode).toBe('headlessgl');
      expect(report.residentValue).toMatch(/^GLTextureFloat/);
      const failures = report.results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.worst} (${r.tolerance})`);
      expect(failures).toEqual([]);
    } finally {
      await device.destroy();
    }
  }, 120_000);

  it('setBackend(gpu, headlessgl): every Backend method matches the CPU backend', async () => {
    setBackend('gpu', { mode: 'headlessgl' });
    try {
      const report = runBackendParity();
      expect(report.backend.mode).toBe('headlessgl');
      const failures = report.results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.worst} (${r.tolerance})`);
      expect(failures).toEqual([]);
    } finally {
      setBackend('cpu');
      await gpuBackend.close();
    }
  }, 180_000);
});
