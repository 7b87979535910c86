// Packed BitNet model folders: config.json with a quantization_config (format "packed"),
// model.safetensors whose ternary weights are U8 tensors of packed codes with float32 scales
// beside them, and every other tensor float32. The packing is written into the config and the
// file's __metadata__, so a reader needs nothing else:
//   <name>.weight        U8 [out, rowBytes]  codes of W[out, in] packed along `in`, rows padded
//   <name>.weight_scale  F32 [1] or [out]    gamma; W = codes * gamma (the multiply convention)
//   <name>.bias          F32 [out]           unchanged
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tensor } from '@bitvit/tensor';
import { Linear, readSafetensors, writeSafetensors, type Module, type SafeTensor } from '@bitvit/nn';
import { BitLinear } from './bitlinear.js';
import { replaceModules } from './convert.js';
import { TernaryLinear } from './ternary-linear.js';
import { packBase3, packedRowBytes, packI2, unpackI2, type TernaryScheme } from './packing.js';
import { parseQuantConfig, type BitNetQuantConfig } from './qconfig.js';

/** How each scheme lays codes into bytes; written into config.json and __metadata__. */
export const PACKING_LAYOUT: Record<TernaryScheme, string> = {
  i2: 'code = w + 1 in 2 bits (0: -1, 1: 0, 2: +1), 4 per byte, first weight in bits 0-1; packed along the input dim, each row padded to whole bytes with code 1',
  t3: 'byte = sum_{j<5} (w_j + 1) * 3^j, 5 weights per byte (values 0..242), first weight least significant; packed along the input dim, each row padded to a multiple of 5 with 0-weights',
};

export interface PackedQuantConfig extends BitNetQuantConfig {
  format: 'packed';
  packing: TernaryScheme;
  pack_axis: 'in';
  layout: string;
  scale_convention: 'multiply';
}

/** Replace every BitLinear with a TernaryLinear holding its packed codes (inference only). */
export function toPacked(model: Module): Array<{ name: string; module: TernaryLinear }> {
  const out = replaceModules(model, BitLinear, () => true, (b) => TernaryLinear.fromBitLinear(b));
  model.eval();
  return out;
}

function ternaryLayers(model: Module): Array<{ name: string; layer: TernaryLinear }> {
  return model.namedModules().flatMap(([name, m]) => {
    if (m instanceof TernaryLinear) return [{ name, layer: m }];
    if (m instanceof BitLinear) return [{ name, layer: TernaryLinear.fromBitLinear(m) }];
    return [];
  });
}

/**
 * Write a BitNet model (BitLinear or TernaryLinear layers) as a packed folder. `configJson` is
 * the model's config.json (from its config's toJson()); quantization_config is added to it.
 * Returns the bytes of model.safetensors.
 */
export async function savePacked(
  model: Module,
  dir: string,
  opts: { configJson: Record<string, unknown>; scheme?: TernaryScheme; preprocessor?: object },
): Promise<{ bytes: number; quantizationConfig: PackedQuantConfig }> {
  const scheme = opts.scheme ?? 'i2';
  const layers = ternaryLayers(model);
  if (layers.length === 0) throw new Error('savePacked: the model has no BitLinear or TernaryLinear layers');
  const first = layers[0]!.layer;
  // One quantization_config describes every layer, and the loader builds them all from it.
  for (const { name, layer } of layers) {
    if (layer.activationBits !== first.activationBits || layer.inputNorm !== first.inputNorm) {
      const opts = (l: TernaryLinear): string => `activation bits ${l.activationBits}, input norm ${l.inputNorm}`;
      throw new Error(`savePacked: layer ${name} (${opts(layer)}) differs from ${layers[0]!.name} (${opts(first)}); a packed folder holds one setting`);
    }
  }
  const qc: PackedQuantConfig = {
    quant_method: 'bitnet', format: 'packed', modules: layers.map((l) => l.name), weight_bits: 1.58,
    weight_scale: first.weightScale.length === 1 ? 'tensor' : 'channel', activation_bits: first.activationBits, input_norm: first.inputNorm,
    packing: scheme, pack_axis: 'in', layout: PACKING_LAYOUT[scheme], scale_convention: 'multiply',
  };
  const tensors = new Map<string, SafeTensor>();
  const skip = new Set<Tensor>();
  for (const { name, layer } of layers) {
    const codes = layer.codes();
    const packed = scheme === 'i2' ? packI2(codes, layer.outFeatures, layer.inFeatures) : packBase3(codes, layer.outFeatures, layer.inFeatures);
    tensors.set(`${name}.weight`, { dtype: 'U8', shape: [layer.outFeatures, packedRowBytes(scheme, layer.inFeatures)], data: packed });
    tensors.set(`${name}.weight_scale`, { dtype: 'F32', shape: [layer.weightScale.length], data: Float32Array.from(layer.weightScale) });
  }
  for (const [, m] of model.namedModules()) if (m instanceof BitLinear) skip.add(m.weight);
  for (const [name, t] of model.stateDict()) {
    if (skip.has(t)) continue;
    tensors.set(name, { dtype: 'F32', shape: [...t.shape], data: t.data });
  }
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'model.safetensors');
  await writeSafetensors(file, tensors, { format: 'pt', quantization_config: JSON.stringify(qc) });
  const config = { ...opts.configJson, quantization_config: qc };
  await writeAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  if (opts.preprocessor) await writeAtomic(join(dir, 'preprocessor_config.json'), `${JSON.stringify(opts.preprocessor, null, 2)}\n`);
  const bytes = (await readFile(file)).length;
  return { bytes, quantizationConfig: qc };
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/**
 * Load a packed folder. `build` makes the float model its config.json describes (for a ViT:
 * json => createModel(ViTConfig.fromJson(json))); the recorded Linears become TernaryLinear.
 */
export async function loadPacked<M extends Module>(dir: string, build: (configJson: Record<string, unknown>) => M): Promise<M> {
  const configPath = join(dir, 'config.json');
  const configJson = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  const qc = parseQuantConfig(configJson['quantization_config'], configPath) as PackedQuantConfig | null;
  if (!qc || qc.format !== 'packed') throw new Error(`${configPath}: not a packed BitNet model (quantization_config.format is not "packed")`);
  if (qc.packing !== 'i2' && qc.packing !== 't3') throw new Error(`${configPath}: unknown packing "${String(qc.packing)}"`);
  if (qc.scale_convention !== 'multiply') throw new Error(`${configPath}: scale_convention "${String(qc.scale_convention)}" is not "multiply"`);
  const file = join(dir, 'model.safetensors');
  const { tensors } = await readSafetensors(file);
  const model = build(configJson);
  const wanted = new Set(qc.modules);
  const replaced = replaceModules(model, Linear, (name) => wanted.has(name), (lin, name) => {
    const w = tensors.get(`${name}.weight`);
    const s = tensors.get(`${name}.weight_scale`);
    const rowBytes = packedRowBytes(qc.packing, lin.inFeatures);
    if (!w || w.dtype !== 'U8' || w.shape[0] !== lin.outFeatures || w.shape[1] !== rowBytes) {
      throw new Error(`${file}: "${name}.weight" should be U8 [${lin.outFeatures}, ${rowBytes}], found ${w ? `${w.dtype} [${w.shape.join(', ')}]` : 'nothing'}`);
    }
    if (!s || !(s.data instanceof Float32Array)) throw new Error(`${file}: "${name}.weight_scale" is missing or not F32`);
    if (s.data.length !== 1 && s.data.length !== lin.outFeatures) {
      throw new Error(`${file}: "${name}.weight_scale" should be F32 [1] or [${lin.outFeatures}], found F32 [${s.shape.join(', ')}]`);
    }
    const bias = tensors.get(`${name}.bias`);
    const codes = w.data as Uint8Array;
    try {
      // Decoding checks every byte (i2 code 3, t3 bytes above 242): corrupt codes fail here, by name,
      // instead of running as weights (the i2 kernel would read code 3 as 0).
      if (qc.packing === 'i2') unpackI2(codes, lin.outFeatures, lin.inFeatures);
      return TernaryLinear.fromPacked(qc.packing, codes, {
        inFeatures: lin.inFeatures, outFeatures: lin.outFeatures, weightScale: s.data,
        bias: bias ? Float32Array.from(bias.data as Float32Array) : null, activationBits: qc.activation_bits, inputNorm: qc.input_norm,
      });
    } catch (e) {
      throw new Error(`${file}: "${name}.weight": ${(e as Error).message}`);
    }
  });
  const missing = qc.modules.filter((n) => !replaced.some((r) => r.name === n));
  if (missing.length) throw new Error(`${configPath}: quantization_config names modules the model lacks: ${missing.join(', ')}`);
  const floats = new Map<string, Tensor>();
  for (const [name, st] of tensors) {
    if (st.dtype === 'U8' || name.endsWith('.weight_scale')) continue;
    floats.set(name, new Tensor(Float32Array.from(st.data as Float32Array), st.shape));
  }
  try {
    model.loadStateDict(floats, { strict: true });
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return model.eval();
}
