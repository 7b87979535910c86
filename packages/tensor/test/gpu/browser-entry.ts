// The page side of browser.test.ts: esbuild bundles this file (with gpu.js's
// browser build) into one script; the test calls window.gpuParity(mode).
import { GpuDevice, type GpuInfo, type GpuModeRequest } from '../../src/kernels/gpu/index.js';
import { loadBackend, setBackend } from '../../src/index.js';
import { runBackendParity, type BackendParityReport } from './backend-parity.js';
import { runParity, type ParityReport } from './parity.js';
import { runTimings, type TimingRow } from './timing.js';

declare global {
  interface Window {
    gpuInfo(mode: GpuModeRequest): Promise<GpuInfo>;
    gpuParity(mode: GpuModeRequest): Promise<ParityReport>;
    gpuTimings(mode: GpuModeRequest): Promise<TimingRow[]>;
    backendParity(mode: string): Promise<BackendParityReport>;
  }
}

window.gpuInfo = async (mode) => {
  const device = await GpuDevice.create(mode);
  await device.destroy();
  return device.info;
};

window.gpuParity = async (mode) => {
  const device = await GpuDevice.create(mode);
  try {
    return await runParity(device);
  } finally {
    await device.destroy();
  }
};

window.gpuTimings = async (mode) => {
  const device = await GpuDevice.create(mode);
  try {
    return await runTimings(device);
  } finally {
    await device.destroy();
  }
};

// the gpu backend (setBackend('gpu')) against the CPU backend, in one gpu.js mode
window.backendParity = async (mode) => {
  await loadBackend('gpu', { mode });
  try {
    return runBackendParity();
  } finally {
    setBackend('cpu');
  }
};
