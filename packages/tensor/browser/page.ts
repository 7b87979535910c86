// The page: a few training steps of a tiny BitNet ViT on the CPU backend, then the same steps
// on the gpu backend (gpu.js WebGL2 unless ?mode= says otherwise), and both losses side by side.
// The result is also left on window.bitvitResult for the browser tests.
//   index.html?mode=webgl2&steps=3      modes: webgl2, webgl, webasm, auto
import * as bitvit from './entry.js';
import { trainTinyBitNet, type TinyRunResult } from './tiny-bitnet.js';

export interface PageResult {
  cpu?: TinyRunResult;
  gpu?: TinyRunResult;
  /** the largest |gpu - cpu| / |cpu| over the losses */
  worstRelativeDifference?: number;
  error?: string;
}

declare global {
  interface Window {
    bitvit: typeof bitvit;
    trainTinyBitNet: typeof trainTinyBitNet;
    bitvitResult?: PageResult;
  }
}

window.bitvit = bitvit;
window.trainTinyBitNet = trainTinyBitNet;
const params = new URLSearchParams(location.search);
const mode = params.get('mode') ?? 'webgl2';
const steps = Number(params.get('steps') ?? '3');
const out = document.getElementById('out')!;
const say = (line: string) => {
  out.textContent += `${line}\n`;
};

async function run(): Promise<PageResult> {
  const { tensor } = bitvit;
  tensor.setBackend('cpu');
  say(`cpu: ${tensor.backendInfo().description}`);
  const cpu = trainTinyBitNet(bitvit, { steps });
  say(`  losses ${cpu.losses.map((l) => l.toFixed(6)).join(', ')} (${cpu.ms.toFixed(0)} ms)`);
  // gpu.js is inside the bundle; loadBackend evaluates it and opens the device
  await tensor.loadBackend('gpu', { mode });
  say(`gpu: ${tensor.backendInfo().description}`);
  const gpu = trainTinyBitNet(bitvit, { steps });
  say(`  losses ${gpu.losses.map((l) => l.toFixed(6)).join(', ')} (${gpu.ms.toFixed(0)} ms, shader compiles included)`);
  tensor.setBackend('cpu');
  const worstRelativeDifference = Math.max(...cpu.losses.map((l, i) => Math.abs(gpu.losses[i]! - l) / Math.abs(l)));
  say(`largest relative difference of the losses: ${worstRelativeDifference.toExponential(2)}`);
  return { cpu, gpu, worstRelativeDifference };
}

run().then(
  (result) => {
    window.bitvitResult = result;
  },
  (error: unknown) => {
    const message = error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error);
    say(`error: ${message}`);
    window.bitvitResult = { error: message };
  },
);
