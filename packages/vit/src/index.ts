// @bitvit/vit: ViT and DeiT with Hugging Face names, configs and model folders.
export { ViTConfig, type ViTConfigJson, type ModelType } from './config.js';
export * from './modeling.js';
export { presetConfig, PRESET_NAMES } from './presets.js';
export { interpolatePositionEmbeddings, resizeGrid, type ResizeMode } from './interpolate.js';
export {
  savePretrained, fromPretrained, loadConfig, loadPreprocessor, defaultPreprocessor, writeFileAtomic,
  stateDictToSafetensors, safetensorsToTensors, type PreprocessorConfig, type FromPretrainedOptions,
} from './pretrained.js';
