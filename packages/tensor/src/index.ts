// @bitvit/tensor: a float32 Tensor with define-by-run autograd, seeded randomness and swappable backends.
export { Tensor, type DeviceStorage, type NestedArray, type TensorLike } from './tensor.js';
export { noGrad, isGradEnabled, record, backward, type GraphNode } from './autograd.js';
export * from './shape.js';
export * from './creation.js';
export { Generator, manualSeed, defaultGenerator, type GeneratorState } from './random.js';
export { allocFloats, recycleMemory, setStoragePool, storagePoolStats } from './storage.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/shape.js';
export * from './ops/matmul.js';
export * from './ops/nn.js';
export * from './ops/attention.js';
export * from './ops/quant.js';
import { applyBackendFromEnvironment } from './kernels/index.js';
export {
  kernels, setBackend, loadBackend, getBackend, registerBackend, backendInfo, type BackendOptions, type BackendInfo,
} from './kernels/index.js';
export type { Backend, UnaryOp, BinaryOp, ReduceOp, LayerNormResult } from './kernels/backend.js';
export {
  cpuBackend, cpuReference, cpuSimdEnabled, setCpuSimd, setKernelThreads, kernelThreads, loadKernels,
} from './kernels/cpu/index.js';
export { gemm, gemmReference, gemmInfo, setGemmThreads, enableRelaxedSimd, packOperandB, type GemmArgs } from './kernels/gemm/index.js';
export { PackedOperand } from './kernels/gemm/packed.js';
// the gpu.js backend and its device; gpu.js itself loads only when a device opens
export { gpuBackend, GpuStorage, type GpuBackend, type GpuBackendMode } from './kernels/gpu/backend.js';
export { tidy, keep } from './tidy.js';
export { GpuDevice, GpuArray, type GpuInfo, type GpuMode, type GpuModeRequest } from './kernels/gpu/device.js';
export { loadGpuJs, provideGpuJs } from './kernels/gpu/gpujs.js';
export { roundHalfEven, erf } from './kernels/cpu/math.js';
// the WebAssembly module builder the SIMD kernels are emitted with, for other packages' kernels
export * as wasm from './kernels/wasm/builder.js';
// the WebAssembly heap tensors' data lives in (Node), for other packages' kernels to work in place
export { Heap, theHeap, HEAP_MAX_PAGES } from './kernels/wasm/heap.js';
// the worker pools' claim protocol (caller side), for other packages' pools
export { runClaimed, nextTag, MAX_CLAIM_UNITS, type ClaimSlots } from './kernels/wasm/claim.js';
// the worker threads every kernel over the heap shares (other packages' kernels, as bitnet's dot kernel)
export { ThreadTeam, threadTeam, type TeamModule, type TeamJob } from './kernels/wasm/team.js';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
export { formatTensor } from './print.js';

// BITVIT_BACKEND=gpu (or gpu:<mode>) selects the backend for the whole program, read once here,
// when every module of the package is loaded
applyBackendFromEnvironment();
