// Model folders in the Hugging Face layout: config.json, model.safetensors and
// preprocessor_config.json (as ViTImageProcessor writes it). Each file is written to a
// temporary name and renamed, so an interrupted save never leaves a half-written file.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '@bitvit/tensor';
import { readSafetensors, writeSafetensors, type SafeTensor, type Module } from '@bitvit/nn';
import { ViTConfig, type ViTConfigJson } from './config.js';
import { createModel, type ImageClassifier } from './modeling.js';
import { interpolatePositionEmbeddings, type ResizeMode } from './interpolate.js';

/** What ViTImageProcessor needs to turn pixels into model input: x * rescale_factor, then (x - mean) / std. */
export interface PreprocessorConfig {
  image_processor_type: string;
  do_resize: boolean;
  size: { height: number; width: number };
  resample: number;
  do_rescale: boolean;
  rescale_factor: number;
  do_normalize: boolean;
  image_mean: number[];
  image_std: number[];
}

/** Hugging Face's defaults (mean = std = 0.5 per channel) unless mean/std are given (e.g. MNIST's 0.1307/0.3081). */
export function defaultPreprocessor(config: ViTConfig, opts: { mean?: number[]; std?: number[] } = {}): PreprocessorConfig {
  const c = config.numChannels;
  const fill = (v: number[] | undefined, d: number): number[] => (v && v.length === c ? v : v && v.length === 1 ? Array(c).fill(v[0]) : Array(c).fill(d));
  return {
    image_processor_type: 'ViTImageProcessor',
    do_resize: true,
    size: { height: config.imageSize, width: config.imageSize },
    resample: 2,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: fill(opts.mean, 0.5),
    image_std: fill(opts.std, 0.5),
  };
}

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function readJson<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

export function stateDictToSafetensors(model: Module): Map<string, SafeTensor> {
  const out = new Map<string, SafeTensor>();
  for (const [name, t] of model.stateDict()) out.set(name, { dtype: 'F32', shape: [...t.shape], data: t.data });
  return out;
}

/** Float tensors of a safetensors file as Tensors (F16/BF16/F64 converted to float32). */
export function safetensorsToTensors(tensors: Map<string, SafeTensor>, source: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, st] of tensors) {
    if (!(st.data instanceof Float32Array) && !(st.data instanceof Float64Array)) {
      throw new Error(`${source}: tensor "${name}" has dtype ${st.dtype}; a float model needs F32, F16, BF16 or F64`);
    }
    out.set(name, new Tensor(Float32Array.from(st.data), st.shape));
  }
  return out;
}

/** Write config.json, model.safetensors (float32) and preprocessor_config.json into dir. */
export async function savePretrained(
  model: ImageClassifier,
  dir: string,
  opts: { preprocessor?: PreprocessorConfig; metadata?: Record<string, string> } = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, 'model.safetensors'), stateDictToSafetensors(model), { format: 'pt', ...opts.metadata });
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(model.config.toJson(), null, 2)}\n`);
  const pre = opts.preprocessor ?? defaultPreprocessor(model.config);
  await writeFileAtomic(join(dir, 'preprocessor_config.json'), `${JSON.stringify(pre, null, 2)}\n`);
}

export async function loadConfig(dir: string): Promise<ViTConfig> {
  const path = join(dir, 'config.json');
  return ViTConfig.fromJson(await readJson<ViTConfigJson>(path), path);
}

export async function loadPreprocessor(dir: string, config?: ViTConfig): Promise<PreprocessorConfig> {
  const path = join(dir, 'preprocessor_config.json');
  if (!existsSync(path)) return defaultPreprocessor(config ?? (await loadConfig(dir)));
  return readJson<PreprocessorConfig>(path);
}

export interface FromPretrainedOptions {
  /** Load into a model for another image size: position embeddings are interpolated. */
  imageSize?: number;
  interpolation?: ResizeMode;
  /** Report missing/unexpected keys instead of failing (default strict). */
  strict?: boolean;
}

/** Load a model folder (ours or one saved by transformers with the same names). */
export async function fromPretrained(dir: string, opts: FromPretrainedOptions = {}): Promise<ImageClassifier> {
  const config = await loadConfig(dir);
  const file = join(dir, 'model.safetensors');
  if (!existsSync(file)) throw new Error(`${dir}: no model.safetensors (a packed ternary folder loads with @bitvit/bitnet's loadPacked)`);
  const { tensors } = await readSafetensors(file);
  const state = safetensorsToTensors(tensors, file);
  let target = config;
  if (opts.imageSize !== undefined && opts.imageSize !== config.imageSize) {
    target = config.clone({ imageSize: opts.imageSize });
    const prefix = config.modelType === 'deit' ? 2 : 1;
    const key = `${config.modelType}.embeddings.position_embeddings`;
    const pos = state.get(key);
    if (!pos) throw new Error(`${file}: no ${key} to interpolate`);
    const grid = target.imageSize / target.patchSize;
    state.set(key, interpolatePositionEmbeddings(pos, prefix, [grid, grid], opts.interpolation ?? 'bicubic'));
  }
  const model = createModel(target);
  try {
    model.loadStateDict(state, { strict: opts.strict ?? true });
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return model;
}

