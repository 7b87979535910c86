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
