// The gpu backend end to end: a few AdamW steps of a tiny BitNet ViT give the CPU backend's
// losses, in Node (gpu.js webasm) and in headless Chromium on SwiftShader (WebGL2, through the
// browser build of the framework, packages/tensor/browser/). The training recipe is one file,
// packages/tensor/browser/tiny-bitnet.ts, run here with the packages and in the page with the bundle.
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import * as tensor from '@bitvit/tensor';
import * as nn from '@bitvit/nn';
import * as vit from '@bitvit/vit';
import * as bitnet from '@bitvit/bitnet';
import { trainTinyBitNet, type Framework, type TinyRunResult } from '../../tensor/browser/tiny-bitnet.js';
import { buildBrowser, serveDir } from '../../tensor/browser/build.mjs';
// the page's globals (window.bitvit, window.trainTinyBitNet, window.bitvitResult): types only
import type {} from '../../tensor/browser/page.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, chromiumAvailable } from '../../tensor/test/gpu/browser-harness.js';

const framework = { tensor, nn, vit, bitnet } as unknown as Framework;

// Losses agree to float32 rounding until a quantizer lands on the other side of a rounding
// boundary (an int8 activation code or a ternary weight code): then by about 1e-5 relative.
const LOSS_RTOL = 1e-4;
const STEPS = 3;

function expectSameLosses(gpu: number[], cpu: number[]): void {
  expect(gpu.length).toBe(cpu.length);
  gpu.forEach((loss, i) => {
    expect(Number.isFinite(loss)).toBe(true);
    expect(Math.abs(loss - cpu[i]!), `step ${i}: gpu ${loss}, cpu ${cpu[i]}`).toBeLessThanOrEqual(LOSS_RTOL * Math.abs(cpu[i]!));
  });
}

let cpuRun: TinyRunResult;

beforeAll(() => {
  tensor.setBackend('cpu');
  cpuRun = trainTinyBitNet(framework, { steps: STEPS });
});

afterAll(async () => {
  tensor.setBackend('cpu');
  await tensor.gpuBackend.close();
});

describe('a tiny BitNet ViT trains the same on the gpu backend', () => {
  it('the run learns (the losses fall), on the CPU', () => {
    expect(cpuRun.backend.name).toBe('cpu');
    expect(cpuRun.losses[STEPS - 1]!).toBeLessThan(cpuRun.losses[0]!);
  });

  it('Node, gpu.js webasm: same losses and weights as the CPU', () => {
    tensor.setBackend('gpu', { mode: 'webasm' });
    const gpuRun = trainTinyBitNet(framework, { steps: STEPS });
    tensor.setBackend('cpu');
    // the gpu backend really ran, in the mode asked for
    expect(gpuRun.backend).toMatchObject({ name: 'gpu', mode: 'webasm' });
    expectSameLosses(gpuRun.losses, cpuRun.losses);
    gpuRun.classifierWeights.forEach((w, i) => expect(w).toBeCloseTo(cpuRun.classifierWeights[i]!, 5));
  }, 60_000);

  it('Node, gpu.js webasm: with tidy, the arrays alive at once do not grow over 20 training steps', async () => {
    tensor.setBackend('gpu', { mode: 'webasm' });
    const device = tensor.gpuBackend.device!;
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const settle = async () => {
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 0)); // finalizers run after the collection
      }
      return { live: device.liveArrays, arrayBuffers: process.memoryUsage().arrayBuffers };
    };
    const peak = (steps: number, tidy: boolean) => {
      device.resetPeakLiveArrays();
      trainTinyBitNet(framework, { steps, tidy });
      gc(); // a synchronous run: webasm data is plain memory, collected without the finalizers
      return { peak: device.peakLiveArrays, arrayBuffers: process.memoryUsage().arrayBuffers };
    };
    const tidy5 = peak(5, true);
    const tidy20 = peak(20, true);
    const plain5 = peak(5, false);
    const plain20 = peak(20, false);
    const after = await settle();
    tensor.setBackend('cpu');
    const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
    console.log(`webasm: arrays alive at most with tidy ${tidy5.peak} / ${tidy20.peak} (5 / 20 steps), without ${plain5.peak} / ${plain20.peak}; arrayBuffers after the runs ${mb(tidy5.arrayBuffers)}, ${mb(tidy20.arrayBuffers)}, ${mb(plain5.arrayBuffers)}, ${mb(plain20.arrayBuffers)}; after gc ${after.live} arrays`);
    expect(tidy20.peak).toBe(tidy5.peak);
    expect(after.live).toBe(0);
    // (arrayBuffers is printed, not asserted: V8 frees backing stores on a background sweeper, so a
    // reading right after gc() moves by megabytes either way; that finalizers do not keep webasm
    // data alive is asserted exactly in packages/tensor/test/gpu/backend.test.ts)
  }, 120_000);
});

const haveChromium = chromiumAvailable();

describe.runIf(!haveChromium && process.env.CI === 'true')('the browser build: setup', () => {
  it('needs Chromium', () => {
    expect.fail(`Chromium not found at ${CHROMIUM_PATH}: CI must run the browser training test`);
  });
});

describe.skipIf(!haveChromium)('the browser build trains on WebGL2 (headless Chromium, SwiftShader)', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'bitvit-browser-'));
  let server: Server;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    await buildBrowser({ outdir });
    ({ server, url } = await serveDir(outdir));
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, ignoreDefaultArgs: ['--headless'], timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(outdir, { recursive: true, force: true });
  });

  it('the page trains with setBackend(gpu) on WebGL2 and gets the CPU losses', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await page.goto(`${url}?mode=webgl2&steps=${STEPS}`);
    await page.waitForFunction(() => window.bitvitResult !== undefined, undefined, { timeout: 150_000 });
    const result = await page.evaluate(() => window.bitvitResult!);
    expect(result.error).toBeUndefined();
    const { cpu, gpu } = result as Required<typeof result>;
    // WebGL2 really ran, on SwiftShader: no silent fallback to WebAssembly or to the CPU
    expect(gpu.backend.name).toBe('gpu');
    expect(gpu.backend.mode).toBe('webgl2');
    expect(gpu.backend.description).toMatch(/^gpu \(gpu\.js webgl2 on ANGLE .*SwiftShader/);
    expect(cpu.backend.name).toBe('cpu');
    // the page's CPU run is Node's CPU run (the same code, bundled), and the GPU run agrees with it
    expect(cpu.losses).toEqual(cpuRun.losses);
    expectSameLosses(gpu.losses, cpuRun.losses);
    console.log(`browser: cpu ${cpu.losses.map((l) => l.toFixed(6)).join(', ')} in ${cpu.ms.toFixed(0)} ms; webgl2 ${gpu.losses.map((l) => l.toFixed(6)).join(', ')} in ${gpu.ms.toFixed(0)} ms (shader compiles included)`);
    expect(errors.filter((e) => !/GPU stall due to ReadPixels/.test(e))).toEqual([]);
    await page.close();
  }, 180_000);

  it('WebGL2 textures of dropped tensors are freed: no growth over 20 training steps', async () => {
    const page = await browser.newPage();
    await page.goto(`${url}?mode=webgl2&steps=1`);
    await page.waitForFunction(() => window.bitvitResult !== undefined, undefined, { timeout: 150_000 });
    const counts = await page.evaluate(async () => {
      const { tensor } = window.bitvit;
      await tensor.loadBackend('gpu', { mode: 'webgl2' });
      const device = tensor.gpuBackend.device!;
      const settle = async () => {
        for (let i = 0; i < 3; i++) {
          (window as unknown as { gc(): void }).gc();
          await new Promise((resolve) => setTimeout(resolve, 0)); // finalizers run after the collection
        }
        return device.liveArrays;
      };
      // the most textures alive at once during a synchronous run of `steps` steps
      const peak = (steps: number, tidy: boolean) => {
        device.resetPeakLiveArrays();
        window.trainTinyBitNet(window.bitvit, { steps, tidy });
        return device.peakLiveArrays;
      };
      const tidy5 = peak(5, true);
      const tidy20 = peak(20, true);
      const leftAfterTidy = await settle();
      const plain5 = peak(5, false);
      const plain20 = peak(20, false);
      const leftAfterPlain = await settle();
      return { tidy5, tidy20, leftAfterTidy, plain5, plain20, leftAfterPlain, mode: tensor.backendInfo().mode };
    });
    console.log(`browser webgl2, textures alive at most during a run: with tidy ${counts.tidy5} (5 steps) / ${counts.tidy20} (20 steps); without ${counts.plain5} / ${counts.plain20}; after gc: ${counts.leftAfterTidy}, ${counts.leftAfterPlain}`);
    expect(counts.mode).toBe('webgl2');
    // tidy frees each step's textures at its end: the peak does not depend on the number of steps
    expect(counts.tidy20).toBe(counts.tidy5);
    // without it, a synchronous loop keeps them until it yields, and then the finalizers free all
    expect(counts.plain20).toBeGreaterThan(counts.plain5);
    expect(counts.leftAfterTidy).toBe(0);
    expect(counts.leftAfterPlain).toBe(0);
    await page.close();
  }, 180_000);
});
