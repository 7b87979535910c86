// ViT and DeiT against PyTorch: folders written by ref/make_vit_reference.py (plain-torch models
// with Hugging Face's structure and names, random weights) load with fromPretrained and give the
// same logits, both DeiT heads, and the same gradient for every parameter and for the input.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Tensor } from '@bitvit/tensor';
import { LayerNorm } from '@bitvit/nn';
import { DeiTForImageClassificationWithTeacher, ViTForImageClassification, fromPretrained } from '../src/index.js';
import { REF_CASES, REF_DIR, expectClose, get, loadExpected, relError } from './helpers.js';

describe.each(REF_CASES)('%s against PyTorch', (name) => {
  it('loads the folder, gives the same logits and the same gradients', async () => {
    const expected = await loadExpected(name);
    const model = await fromPretrained(join(REF_DIR, name));
    const isDeit = name.startsWith('deit');
    expect(model).toBeInstanceOf(isDeit ? DeiTForImageClassificationWithTeacher : ViTForImageClassification);
    // config.json's layer_norm_eps reaches every LayerNorm (1e-6 in the 32 px folders, HF's 1e-12 default in the others).
    const eps = name.endsWith('32') ? 1e-6 : 1e-12;
    expect(model.config.layerNormEps).toBe(eps);
    for (const [mname, m] of model.namedModules()) if (m instanceof LayerNorm) expect(m.eps, mname).toBe(eps);

    const pixels = get(expected, 'pixel_values');
    const x = new Tensor(Float32Array.from(pixels.data), pixels.shape).requiresGrad_();
    let logits: Tensor;
    if (model instanceof DeiTForImageClassificationWithTeacher) {
      const heads = model.forwardHeads(x);
      expectClose(heads.clsLogits, get(expected, 'cls_logits'), `${name} cls_logits`);
      expectClose(heads.distillationLogits, get(expected, 'distillation_logits'), `${name} distillation_logits`);
      logits = heads.logits;
    } else {
      logits = model.forward(x);
    }
    expectClose(logits, get(expected, 'logits'), `${name} logits`);
    // The heads are not trivially equal or near zero (which would make the comparison weak).
    expect(Math.max(...get(expected, 'logits').data.map(Math.abs))).toBeGreaterThan(0.5);

    logits.mul(get(expected, 'grad_weight')).sum().backward();
    const params = model.namedParameters();
    const gradNames = [...expected.keys()].filter((k) => k.startsWith('grad.') && k !== 'grad.pixel_values').map((k) => k.slice(5));
    expect(params.map(([n]) => n).sort()).toEqual(gradNames.sort());
    // Per-element 1e-4 relative with a floor of 1e-4 of the tensor's largest value: gradients sum
    // many float32 products, and elements that nearly cancel carry the large terms' rounding.
    let worst = 0;
    for (const [pname, p] of params) {
      const e = get(expected, `grad.${pname}`);
      if (pname.endsWith('attention.attention.key.bias')) {
        // Exactly zero in exact arithmetic: the key bias adds q.b to every score of a query's row,
        // and softmax ignores a constant shift. Both sides hold only rounding noise.
        expect(Math.max(...p.grad!.data.map(Math.abs)), `${pname} should be ~0`).toBeLessThan(1e-6);
        expect(Math.max(...e.data.map(Math.abs))).toBeLessThan(1e-12);
        continue;
      }
      expectClose(p.grad, e, `${name} grad of ${pname}`, 1e-4, 1e-4);
      worst = Math.max(worst, relError(p.grad!, e, pname));
    }
    expectClose(x.grad, get(expected, 'grad.pixel_values'), `${name} grad of pixel_values`, 1e-4, 1e-4);
    // Measured: about 1e-6 of each tensor's scale (float32 here, float64 in the reference).
    expect(worst, 'largest gradient error relative to its tensor scale').toBeLessThan(1e-5);
  });
});

describe('the comparison is sharp', () => {
  it("tells transformers' exact GELU from the tanh approximation (gelu_new)", async () => {
    const expected = await loadExpected('vit-28');
    const model = (await fromPretrained(join(REF_DIR, 'vit-28'))) as ViTForImageClassification;
    const x = get(expected, 'pixel_values');
    expectClose(model.forward(x), get(expected, 'logits'), 'exact GELU');
    const tanhGelu = (t: Tensor): Tensor => t.mul(0.5).mul(t.add(t.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI)).tanh().add(1));
    for (const layer of model.vit.encoder.layer) layer.intermediate.intermediate_act_fn.forward = tanhGelu;
    expect(() => expectClose(model.forward(x), get(expected, 'logits'), 'tanh GELU')).toThrow(/tanh GELU: element \d+ is/);
  });
});

describe('position-embedding interpolation against PyTorch', () => {
  it('the 28 px ViT loaded at 56 px (bicubic 4x4 -> 8x8) gives the logits of the resized torch model', async () => {
    const expected = await loadExpected('vit-28');
    const model = await fromPretrained(join(REF_DIR, 'vit-28'), { imageSize: 56 });
    expect(model.config.imageSize).toBe(56);
    expect([...(model as ViTForImageClassification).vit.embeddings.position_embeddings.shape]).toEqual([1, 65, 32]);
    const logits = model.forward(get(expected, 'interp.pixel_values'));
    expect([...logits.shape]).toEqual([2, 10]);
    expectClose(logits, get(expected, 'interp.logits'), 'vit-28 at 56 px logits');
  });

  it('bilinear resizing gives other logits than bicubic (the option is honoured)', async () => {
    const expected = await loadExpected('vit-28');
    const px = get(expected, 'interp.pixel_values');
    const bilinear = await fromPretrained(join(REF_DIR, 'vit-28'), { imageSize: 56, interpolation: 'bilinear' });
    const logits = bilinear.forward(px);
    expect([...logits.shape]).toEqual([2, 10]);
    expect(relError(logits, get(expected, 'interp.logits'), 'bilinear vs bicubic')).toBeGreaterThan(1e-3);
  });
});
