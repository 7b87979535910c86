// gpu.js kernels over device-resident arrays: the compute half of the GPU backend.
// Open a device, upload Float32Arrays, chain kernels (data stays on the device), read() at the end.
export { GpuDevice, GpuArray, sizeOf } from './device.js';
export { loadGpuJs, provideGpuJs, gpuJs, gpuJsAvailableSync, type GpuJsModule } from './gpujs.js';
export { gpuBackend, GpuStorage, type GpuBackend, type GpuBackendMode } from './backend.js';
export type { GpuInfo, GpuMode, GpuModeRequest, KernelSpec } from './device.js';
export { unary, binary, clamp, where, broadcastShapes, broadcastStrides, collapseBroadcast } from './elementwise.js';
export type { UnaryOp, BinaryOp } from './elementwise.js';
export { matmul } from './matmul.js';
export type { MatmulOptions } from './matmul.js';
export { sumLastDim, maxLastDim, minLastDim, meanLastDim, sumLeadingDims, reduce, argReduce } from './reduce.js';
export type { ReduceOp } from './reduce.js';
export { permute, expand, slice, concat, indexSelect, indexAdd, gather, scatterAdd } from './layout.js';
export { stridedKernel, collapseStrides, contiguousStrides } from './strided.js';
export type { StridedInput, StridedOptions } from './strided.js';
export { softmax, softmaxBackward, logSoftmax, logSoftmaxBackward } from './softmax.js';
export { layerNorm, layerNormBackward } from './layernorm.js';
export type { LayerNormForward, LayerNormBackward } from './layernorm.js';
export { gelu, geluBackward } from './gelu.js';
export { absmeanScale, ternaryCodes, absmeanTernary, absmaxQuantize, ternaryQuantize, actQuantInt8 } from './quantize.js';
