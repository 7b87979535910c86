// Prints the gpu kernel timings (timing.ts) for every backend this machine has:
// gpu.js webasm in Node, and WebGL2, WebGPU, WebGL and webasm in headless Chromium.
//   cd packages/tensor && npx tsx test/gpu/run-timings.ts
import { fileURLToPath } from 'node:url';
import { GpuDevice } from '../../src/kernels/gpu/index.js';
import { bundleForBrowser, chromiumAvailable, openPage } from './browser-harness.js';
import { runTimings, type TimingRow } from './timing.js';

const columns: [string, TimingRow[]][] = [];
const node = await GpuDevice.create('webasm');
columns.push(['node webasm', await runTimings(node)]);
await node.destroy();

if (chromiumAvailable()) {
  const browser = await openPage(await bundleForBrowser(fileURLToPath(new URL('./browser-entry.ts', import.meta.url))));
  for (const mode of ['webgl2', 'webgpu', 'webgl', 'webasm'] as const) {
    columns.push([`chromium ${mode}`, await browser.page.evaluate((m) => window.gpuTimings(m), mode)]);
  }
  await browser.close();
}

// markdown table: median ms (first call ms, compile included)
console.log(`| op | ${columns.map(([name]) => name).join(' | ')} |`);
console.log(`|---|${columns.map(() => '---:').join('|')}|`);
for (let i = 0; i < columns[0]![1].length; i++) {
  const name = columns[0]![1][i]!.name;
  console.log(`| ${name} | ${columns.map(([, rows]) => `${rows[i]!.medianMs} (${rows[i]!.firstMs})`).join(' | ')} |`);
}
