// gpu.js kernels against the CPU references inside headless Chromium, on
// SwiftShader: WebGL2, WebGPU, WebGL1 and WebAssembly (see docs/gpu.md).
// Each mode must really be the one that ran: GpuDevice reads the backend off
// the kernel object, and a kernel that gpu.js moved to its CPU fallback throws.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuModeRequest } from '../../src/kernels/gpu/index.js';
import { type BrowserPage, bundleForBrowser, CHROMIUM_PATH, chromiumAvailable, openPage } from './browser-harness.js';
import type { BackendParityReport } from './backend-parity.js';
import type { ParityReport } from './parity.js';
import type { TimingRow } from './timing.js';

const haveChromium = chromiumAvailable();
const inCI = process.env.CI === 'true';

describe.runIf(!haveChromium && inCI)('gpu kernels in Chromium: setup', () => {
  it('needs Chromium', () => {
    expect.fail(`Chromium not found at ${CHROMIUM_PATH}: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH; CI must run the browser GPU tests`);
  });
});

// Where each backend keeps a kernel's result between kernels (a 3-D matmul output here).
const residentClass: Record<string, RegExp> = {
  webgl2: /^GLTextureFloat/,
  webgl: /^GLTextureFloat/,
  webgpu: /^WebGPUBufferResult$/,
  // no device memory: a plain (nested) array
  webasm: /^Array$/,
};

describe.skipIf(!haveChromium)('gpu kernels in Chromium (SwiftShader)', () => {
  let browser: BrowserPage;

  beforeAll(async () => {
    const script = await bundleForBrowser(fileURLToPath(new URL('./browser-entry.ts', import.meta.url)));
    browser = await openPage(script);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  const modes: Exclude<GpuModeRequest, 'auto' | 'headlessgl'>[] = ['webgl2', 'webgpu', 'webgl', 'webasm'];
  for (const mode of modes) {
    it(`${mode}: every kernel matches the CPU reference`, async () => {
      const report: ParityReport = await browser.page.evaluate((m) => window.gpuParity(m), mode);
      // the mode that ran is the mode asked for: no silent fallback
      expect(report.info.mode).toBe(mode);
      expect(report.residentValue).toMatch(residentClass[mode]!);
      if (mode !== 'webasm') expect(report.info.renderer).toMatch(/swiftshader|vulkan|nvidia|amd|intel|apple|mali|adreno/i);
      const failures = report.results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.worst} (${r.tolerance}, ratio ${r.worstRatio})`);
      expect(failures).toEqual([]);
      expect(report.results.length).toBeGreaterThan(100);
      console.log(`${mode} on ${report.info.renderer}: ${report.results.length} checks in ${Math.round(report.totalMs)} ms, ${report.kernelCount} kernels compiled`);
    }, 90_000);
  }

  it('auto picks WebGPU where an adapter exists', async () => {
    const info = await browser.page.evaluate(() => window.gpuInfo('auto'));
    expect(info).toMatchObject({ mode: 'webgpu', requested: 'auto', isSoftware: true, isAsync: true });
  }, 60_000);

  // the gpu backend behind setBackend, against the CPU backend: the modes with synchronous reads
  for (const mode of ['webgl2', 'webgl'] as const) {
    it(`setBackend('gpu', { mode: '${mode}' }): every Backend method matches the CPU backend`, async () => {
      const report: BackendParityReport = await browser.page.evaluate((m) => window.backendParity(m), mode);
      // the mode that ran is the mode asked for, on a real (software) GPU renderer
      expect(report.backend.mode).toBe(mode);
      expect(report.backend.description).toMatch(new RegExp(`^gpu \\(gpu.js ${mode} on .*SwiftShader`));
      const failures = report.results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.worst} (${r.tolerance})`);
      expect(failures).toEqual([]);
      expect(report.methodsCovered.length).toBe(24);
      console.log(`backend ${mode}: ${report.results.length} checks in ${Math.round(report.totalMs)} ms; live device arrays ${report.liveArraysBefore} -> ${report.liveArraysAfter}`);
    }, 120_000);
  }

  it('no page errors', () => {
    expect(browser.errors.filter((e) => !/GPU stall due to ReadPixels/.test(e))).toEqual([]);
  });
});
