// ViT and DeiT against the real Hugging Face transformers (5.17, torch 2.11), which cannot be
// installed here: ref/check_transformers.py ran once on a machine that has it and left
//   ref/hf-vit, ref/hf-deit          folders written by transformers' save_pretrained, with the
//                                    logits transformers computed for a seeded batch, and
//   ref/transformers_check.json      what transformers gave on the four older reference folders
//                                    (written by the plain-torch rebuild in make_vit_reference.py).
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '@bitvit/tensor';
import { readSafetensors, type SafeTensor } from '@bitvit/nn';
import { DeiTForImageClassificationWithTeacher, ViTForImageClassification, fromPretrained, savePretrained } from '../src/index.js';
import { REF_CASES, REF_DIR, expectClose, get, loadExpected, relError } from './helpers.js';

interface HeadDiff {
  max_abs_diff: number;
  max_abs_expected: number;
  rel: number;
}
type Comparison = Record<string, HeadDiff>;
interface LoadingInfo {
  missing_keys: string[];
  unexpected_keys: string[];
  mismatched_keys: string[];
  error_msgs: string[];
}
interface ReferenceFolderCheck {
  class: string;
  loading_info_eager: LoadingInfo;
  loading_info_sdpa: LoadingInfo;
  float32_eager: Comparison;
  float32_sdpa: Comparison;
  float64_eager: Comparison;
  float64_sdpa: Comparison;
  [key: string]: unknown;
}
interface TransformersCheck {
  transformers: string;
  torch: string;
  reference_folders: Record<string, ReferenceFolderCheck>;
  written_folders: Record<string, { class: string; loading_info: LoadingInfo; save_pretrained_files: string[]; config_json: Record<string, unknown>; [key: string]: unknown }>;
}

/** The raw float32 bits of a safetensors tensor, so -0 and NaN payloads compare too. */
function bits(data: SafeTensor['data']): Uint32Array {
  if (!(data instanceof Float32Array)) throw new Error(`expected F32 data, got ${data.constructor.name}`);
  return new Uint32Array(data.buffer, data.byteOffset, data.length);
}

const check = JSON.parse(readFileSync(join(REF_DIR, 'transformers_check.json'), 'utf8')) as TransformersCheck;

const HF_CASES = [
  { name: 'hf-vit', cls: ViTForImageClassification, heads: ['logits'] },
  { name: 'hf-deit', cls: DeiTForImageClassificationWithTeacher, heads: ['logits', 'cls_logits', 'distillation_logits'] },
] as const;

describe.each(HF_CASES)('$name: a folder written by transformers 5.17 save_pretrained', ({ name, cls, heads }) => {
  it('loads with fromPretrained (strict) and gives the logits transformers gave', async () => {
    const dir = join(REF_DIR, name);
    const model = await fromPretrained(dir);
    expect(model).toBeInstanceOf(cls);
    expect(model.config.hiddenSize).toBe(32);
    expect(model.config.numAttentionHeads).toBe(2);
    expect(model.config.layerNormEps).toBe(1e-12);
    expect(model.config.numLabels).toBe(10);
    // Fields transformers 5 writes that this package does not model are kept, not refused.
    expect(model.config.extra).toMatchObject({ dtype: 'float32', pooler_act: 'tanh', pooler_output_size: 32, transformers_version: '5.17.0' });

    const expected = await loadExpected(name);
    const x = get(expected, 'pixel_values');
    expect(x.shape[0]).toBe(2);
    const out: Record<string, Tensor> = {};
    if (model instanceof DeiTForImageClassificationWithTeacher) {
      const h = model.forwardHeads(x);
      Object.assign(out, { logits: h.logits, cls_logits: h.clsLogits, distillation_logits: h.distillationLogits });
    } else {
      out.logits = model.forward(x);
    }
    let worst = 0;
    for (const head of heads) {
      const e = get(expected, head);
      expect([...e.shape]).toEqual([2, 10]);
      // Not near zero, or the comparison would say little.
      expect(Math.max(...e.data.map(Math.abs)), head).toBeGreaterThan(0.5);
      expectClose(out[head], e, `${name} ${head}`);
      worst = Math.max(worst, relError(out[head]!, e, head));
    }
    // Measured: about 3e-7 (float32 here against transformers' float64 run); transformers' own
    // float32 runs land as far from its float64 one (transformers_check.json).
    expect(worst, 'largest logit error relative to max |logit|').toBeLessThan(1e-5);
  });

  it('savePretrained writes back the same tensors and every config.json field transformers wrote', async () => {
    const tmp = await mkdtemp(join(tmpdir(), `bitvit-${name}-`));
    try {
      const model = await fromPretrained(join(REF_DIR, name));
      await savePretrained(model, tmp);
      const theirs = JSON.parse(await readFile(join(REF_DIR, name, 'config.json'), 'utf8')) as Record<string, unknown>;
      const ours = JSON.parse(await readFile(join(tmp, 'config.json'), 'utf8')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(theirs)) expect(ours[k], `config.json ${k}`).toEqual(v);
      const a = (await readSafetensors(join(REF_DIR, name, 'model.safetensors'))).tensors;
      const b = (await readSafetensors(join(tmp, 'model.safetensors'))).tensors;
      expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
      for (const [k, t] of a) {
        expect(b.get(k)!.shape, k).toEqual(t.shape);
        expect(Array.from(bits(b.get(k)!.data)), k).toEqual(Array.from(bits(t.data))); // bit-identical
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

describe('transformers_check.json: transformers 5.17 on the four plain-torch reference folders', () => {
  it('was made by transformers itself, on every folder, with no key missing, extra or reshaped', () => {
    expect(check.transformers).toBe('5.17.0');
    expect(Object.keys(check.reference_folders).sort()).toEqual([...REF_CASES].sort());
    for (const [name, r] of Object.entries(check.reference_folders)) {
      expect(Object.keys(r).filter((k) => k.startsWith('error')), name).toEqual([]);
      expect(r.class, name).toBe(name.startsWith('deit') ? 'DeiTForImageClassificationWithTeacher' : 'ViTForImageClassification');
      for (const info of [r.loading_info_eager, r.loading_info_sdpa]) {
        expect(info, name).toEqual({ missing_keys: [], unexpected_keys: [], mismatched_keys: [], error_msgs: [] });
      }
    }
    for (const [name, w] of Object.entries(check.written_folders)) {
      expect(w.loading_info, name).toEqual({ missing_keys: [], unexpected_keys: [], mismatched_keys: [], error_msgs: [] });
      expect(w.save_pretrained_files, name).toEqual(['config.json', 'model.safetensors']);
    }
  });

  it.each(REF_CASES)('%s: transformers gives the committed logits (every head)', async (name) => {
    const r = check.reference_folders[name]!;
    const expected = await loadExpected(name);
    const heads = name.startsWith('deit') ? ['logits', 'cls_logits', 'distillation_logits'] : ['logits'];
    for (const run of ['float32_eager', 'float32_sdpa', 'float64_eager', 'float64_sdpa'] as const) {
      expect(Object.keys(r[run]).sort(), `${name} ${run}`).toEqual([...heads].sort());
      for (const head of heads) {
        const d = r[run][head]!;
        // The JSON describes these very files: its max |expected| is the committed tensor's.
        expect(d.max_abs_expected, `${name} ${head}`).toBeCloseTo(Math.max(...get(expected, head).data.map(Math.abs)), 6);
        expect(d.rel, `${name} ${run} ${head}`).toBeCloseTo(d.max_abs_diff / d.max_abs_expected, 12);
        // Thresholds. The committed logits are the float64 answer rounded to float32, so an
        // identical computation differs from them by at most 2^-24 (6.0e-8) of each value:
        // - float64 sdpa (exact float64 attention) must stay within that rounding: < 6.0e-8
        //   (measured 2.8e-8..5.3e-8). It would see a LayerNorm eps of 1e-6 for 1e-12, which
        //   moves the 28 px folders' logits by 0.7e-6..1.2e-6 (float64), and any wrong op far more;
        // - float64 eager: measured up to 9.3e-8; transformers' eager attention carries some
        //   float32 rounding even in a float64 model (it is 1e-7 off its own float64 sdpa), so < 2e-7;
        // - float32 (either attention): float32 rounding through 2 layers, measured up to 1.1e-6;
        //   < 1e-5, the bound the other tests use for float32 against float64.
        const bound = run === 'float64_sdpa' ? 2 ** -24 : run === 'float64_eager' ? 2e-7 : 1e-5;
        expect(d.rel, `${name} ${run} ${head}: max |transformers - committed| / max |committed|`).toBeLessThan(bound);
      }
    }
  });
});
