// The `quantization_config` entry of config.json for BitNet models, so a saved folder says
// which modules are BitLinear and how they quantize. Two formats:
//   latent: float latent weights in model.safetensors; BitLinear re-quantizes them (continued QAT, eval)
//   packed: ternary codes packed into U8 tensors with their scales (see packed.ts)
import type { Module } from '@bitvit/nn';
import type { InputNorm } from './bitlinear.js';
import type { ScaleGranularity } from './quantizers.js';
import { bitLinears, convertToBitNet, type ConvertOptions } from './convert.js';

export interface BitNetQuantConfig {
  quant_method: 'bitnet';
  /** 'latent' (float weights, quantized at run time) or 'packed' (ternary codes in U8 tensors). */
  format: 'latent' | 'packed';
  /** Dotted names of the BitLinear modules. */
  modules: string[];
  weight_bits: 1.58;
  weight_scale: ScaleGranularity;
  activation_bits: number | null;
  input_norm: InputNorm;
  [key: string]: unknown;
}

/** Describe a model's BitLinear layers (they must share one set of options). */
export function bitnetQuantConfig(model: Module, format: 'latent' | 'packed' = 'latent'): BitNetQuantConfig {
  const layers = bitLinears(model);
  if (layers.length === 0) throw new Error('bitnetQuantConfig: the model has no BitLinear layers');
  const first = layers[0]!.module;
  for (const { name, module } of layers) {
    if (module.weightScale !== first.weightScale || module.activationBits !== first.activationBits || module.inputNorm !== first.inputNorm) {
      throw new Error(`bitnetQuantConfig: layer ${name} has options that differ from ${layers[0]!.name}`);
    }
  }
  return {
    quant_method: 'bitnet',
    format,
    modules: layers.map((l) => l.name),
    weight_bits: 1.58,
    weight_scale: first.weightScale,
    activation_bits: first.activationBits,
    input_norm: first.inputNorm,
  };
}

/** Read a quantization_config value from a config's extra fields; null when the model is plain float. */
export function parseQuantConfig(value: unknown, source = 'config.json'): BitNetQuantConfig | null {
  if (value === undefined || value === null) return null;
  const qc = value as Partial<BitNetQuantConfig>;
  if (typeof value !== 'object' || qc.quant_method !== 'bitnet') {
    throw new Error(`${source}: quantization_config.quant_method ${JSON.stringify(qc?.quant_method)} is not "bitnet"`);
  }
  if (!Array.isArray(qc.modules) || qc.modules.some((m) => typeof m !== 'string')) {
    throw new Error(`${source}: quantization_config.modules must be a list of module names`);
  }
  if (qc.format !== 'latent' && qc.format !== 'packed') throw new Error(`${source}: quantization_config.format must be "latent" or "packed"`);
  // The layer options: a missing one takes BitLinear's default; a wrong one is refused rather
  // than turned silently into another layer (an unknown norm into none, "row" into per channel).
  const bad = (field: string, want: string): Error => new Error(`${source}: quantization_config.${field} ${JSON.stringify(qc[field as keyof BitNetQuantConfig])} is not ${want}`);
  const weightScale = qc.weight_scale ?? 'tensor';
  if (weightScale !== 'tensor' && weightScale !== 'channel') throw bad('weight_scale', '"tensor" or "channel"');
  const bits = qc.activation_bits === undefined ? 8 : qc.activation_bits;
  if (bits !== null && !(Number.isInteger(bits) && bits >= 2 && bits <= 16)) throw bad('activation_bits', 'an integer from 2 to 16 or null');
  const inputNorm = qc.input_norm ?? 'none';
  if (inputNorm !== 'none' && inputNorm !== 'rmsnorm' && inputNorm !== 'layernorm') throw bad('input_norm', '"none", "rmsnorm" or "layernorm"');
  if (qc.weight_bits !== undefined && qc.weight_bits !== 1.58) throw bad('weight_bits', '1.58');
  return { ...qc, weight_bits: 1.58, weight_scale: weightScale, activation_bits: bits, input_norm: inputNorm } as BitNetQuantConfig;
}

/** Convert exactly the named Linears of a freshly built float model to BitLinear, with the recorded options. */
export function applyQuantConfig(model: Module, qc: BitNetQuantConfig): void {
  const names = new Set(qc.modules);
  const opts: ConvertOptions = {
    include: qc.modules,
    weightScale: qc.weight_scale,
    activationBits: qc.activation_bits,
    inputNorm: qc.input_norm,
  };
  const replaced = convertToBitNet(model, opts);
  const missing = [...names].filter((n) => !replaced.some((r) => r.name === n));
  if (missing.length) throw new Error(`applyQuantConfig: no Linear named ${missing.join(', ')} in the model`);
}
