// @bitvit/bitnet: BitNet b1.58 for any module tree - BitLinear with the straight-through estimator,
// conversion by name, post-training quantization, error metrics, packed storage and ternary kernels.
export * from './quantizers.js';
export { BitLinear, type BitLinearOptions, type InputNorm } from './bitlinear.js';
export { convertToBitNet, bitLinears, replaceLinears, replaceModules, type ConvertOptions, type ReplacedModule } from './convert.js';
export { globToRegExp, selectByName } from './glob.js';
export { TernaryTracker, ternaryStats, type LayerTernaryStats, type ModelTernaryStats } from './stats.js';
export * from './packing.js';
export { bitnetQuantConfig, parseQuantConfig, applyQuantConfig, type BitNetQuantConfig } from './qconfig.js';
export { TernaryLinear } from './ternary-linear.js';
export { savePacked, loadPacked, toPacked, PACKING_LAYOUT, type PackedQuantConfig } from './packed.js';
export { storageReport, type StorageReport, type StorageScheme } from './storage.js';
export { quantizePTQ, type PTQOptions, type PTQReport, type PTQLayerReport } from './ptq/quantize.js';
export { QuantizedLinear, staticQuantize, type ActivationMode, type QuantizedLinearOptions } from './ptq/quantized-linear.js';
export { fitTernary, type GridMethod, type PTQMethod } from './ptq/fit.js';
export { absmeanTernary } from './ptq/absmean.js';
export { twnTernary } from './ptq/twn.js';
export { refitScales } from './ptq/refit.js';
export { channelMeans, centerRows } from './ptq/asymmetric.js';
export { twoPlaneTernary } from './ptq/two-plane.js';
export { gptqTernary, roundToGrid, refitScalesToOutputs, HessianAccumulator, type GptqOptions } from './ptq/gptq.js';
export { dequantize, relativeError, bitsPerWeight, type TernaryWeights, type TernaryPlane, type Granularity } from './ptq/ternary-weights.js';
export { type ForwardFn } from './ptq/calibration.js';
export {
  compareModels, compareLogits, layerOutputErrors, layerSensitivity, isLinearLike,
  type ModelComparison, type LayerOutputError, type LayerSensitivity, type CompareOptions, type LayerErrorOptions,
} from './metrics.js';
export { ptqToTernary, packedIncompatibility } from './ptq/export.js';
export { quantizeActivationsInt8 } from './kernels/quantize-activations.js';
export { ternaryMatmulI2, ternaryMatmulBase3 } from './kernels/ternary-matmul.js';
export { TernaryMatmulI2Wasm, wasmTernaryAvailable, setTernaryThreads, ternaryThreads } from './kernels/ternary-wasm.js';
export { TernaryMatmulUnrolled, UNROLLED_MIN_TOKENS, MAX_UNROLLED_NONZEROS } from './kernels/ternary-unrolled.js';
