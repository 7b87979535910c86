// Times the tiny BitNet ViT training step (browser/tiny-bitnet.ts) on every backend and mode
// this machine has, for docs/gpu.md: Node (cpu, gpu webasm) and headless Chromium through the
// browser build (cpu, gpu webgl2, webgl, webasm).
//   cd /work/main && npx tsx packages/tensor/test/gpu/run-training-timings.ts [steps]
// Each mode: a first run of `steps` steps (shader compiles included), then a second run with
// every kernel compiled; ms per step of each. Losses are printed to show they agree.
// The tensor test folder may import the other packages here: this script is a tool, not a test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import * as tensor from '../../src/index.js';
import * as nn from '../../../nn/src/index.js';
import * as vit from '../../../vit/src/index.js';
import * as bitnet from '../../../bitnet/src/index.js';
import { trainTinyBitNet, type Framework } from '../../browser/tiny-bitnet.js';
import { buildBrowser, serveDir } from '../../browser/build.mjs';
import { CHROMIUM_ARGS, CHROMIUM_PATH, chromiumAvailable } from './browser-harness.js';

const steps = Number(process.argv[2] ?? '5');
interface Row { where: string; firstMsPerStep: number; msPerStep: number; losses: number[] }
const rows: Row[] = [];

const framework = { tensor, nn, vit, bitnet } as unknown as Framework;
for (const [name, mode] of [['cpu', undefined], ['gpu', 'webasm']] as const) {
  tensor.setBackend(name, mode ? { mode } : {});
  const first = trainTinyBitNet(framework, { steps, tidy: true });
  const second = trainTinyBitNet(framework, { steps, tidy: true });
  const info = tensor.backendInfo();
  rows.push({ where: `node ${info.mode ? `gpu ${info.mode}` : 'cpu'}`, firstMsPerStep: first.ms / steps, msPerStep: second.ms / steps, losses: second.losses });
}
tensor.setBackend('cpu');

if (chromiumAvailable()) {
  const outdir = mkdtempSync(join(tmpdir(), 'bitvit-timings-'));
  await buildBrowser({ outdir });
  const { server, url } = await serveDir(outdir);
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, ignoreDefaultArgs: ['--headless'] });
  for (const mode of ['cpu', 'webgl2', 'webgl', 'webasm']) {
    const page = await browser.newPage();
    // steps=0: the page's own run compiles nothing, so the first run below pays the compiles
    await page.goto(`${url}?mode=${mode === 'cpu' ? 'webasm' : mode}&steps=0`);
    await page.waitForFunction(() => (window as unknown as { bitvitResult?: unknown }).bitvitResult !== undefined, undefined, { timeout: 300_000 });
    const row = await page.evaluate(async ([m, n]) => {
      const w = window as unknown as { bitvit: Framework; trainTinyBitNet: typeof trainTinyBitNet };
      if (m === 'cpu') w.bitvit.tensor.setBackend('cpu');
      else await w.bitvit.tensor.loadBackend('gpu', { mode: m });
      const first = w.trainTinyBitNet(w.bitvit, { steps: n, tidy: true });
      const second = w.trainTinyBitNet(w.bitvit, { steps: n, tidy: true });
      const info = w.bitvit.tensor.backendInfo();
      return { where: `chromium ${info.mode ? `gpu ${info.mode}` : 'cpu'}`, firstMsPerStep: first.ms / n, msPerStep: second.ms / n, losses: second.losses };
    }, [mode, steps] as const);
    rows.push(row);
    await page.close();
  }
  await browser.close();
  server.close();
  rmSync(outdir, { recursive: true, force: true });
}

console.log(`tiny BitNet ViT (vit-mnist, 1 layer, width 16, batch 8), ${steps} AdamW steps per run, each step in tidy(); Chromium's GL modes on SwiftShader`);
console.log('| where | ms per step | first run, ms per step (compiles) | losses of the second run |\n|---|---:|---:|---|');
for (const r of rows) console.log(`| ${r.where} | ${r.msPerStep.toFixed(1)} | ${r.firstMsPerStep.toFixed(0)} | ${r.losses.map((l) => l.toFixed(6)).join(', ')} |`);
process.exit(0);
