// Structure of the models: the printed tree (BITNET.md section 7), parameter names, shapes and
// counts against the plain-torch Hugging Face models of ref/make_vit_reference.py, the presets,
// Hugging Face's init, and the errors a wrong input or config gives.
import { describe, expect, it } from 'vitest';
import { Generator, randn, zeros } from '@bitvit/tensor';
import {
  DeiTForImageClassificationWithTeacher, PRESET_NAMES, ViTConfig, ViTForImageClassification, createModel, initWeights, presetConfig,
} from '../src/index.js';
import { ref } from './helpers.js';

const shapesOf = (m: { stateDict(): Map<string, { shape: readonly number[] }> }): Array<[string, number[]]> =>
  [...m.stateDict()].map(([k, t]) => [k, [...t.shape]]);

describe('vit-tiny as PyTorch prints it', () => {
  const model = createModel(presetConfig('vit-tiny'));
  const text = model.toString();

  it('has the key lines of the study model (BITNET.md section 7)', () => {
    for (const line of [
      'ViTForImageClassification(',
      '  (vit): ViTModel(',
      '    (embeddings): ViTEmbeddings(',
      '      (patch_embeddings): ViTPatchEmbeddings(',
      '        (projection): Conv2d(3, 192, kernel_size=(16, 16), stride=(16, 16))',
      '      (dropout): Dropout(p=0.0, inplace=False)',
      '    (encoder): ViTEncoder(',
      '      (layer): ModuleList(',
      '        (0-11): 12 x ViTLayer(',
      '          (attention): ViTAttention(',
      '            (attention): ViTSelfAttention(',
      '              (query): Linear(in_features=192, out_features=192, bias=True)',
      '            (output): ViTSelfOutput(',
      '          (intermediate): ViTIntermediate(',
      '            (dense): Linear(in_features=192, out_features=768, bias=True)',
      '          (output): ViTOutput(',
      '            (dense): Linear(in_features=768, out_features=192, bias=True)',
      '          (layernorm_before): LayerNorm((192,), eps=1e-12, elementwise_affine=True)',
      '          (layernorm_after): LayerNorm((192,), eps=1e-12, elementwise_affine=True)',
      '    (layernorm): LayerNorm((192,), eps=1e-12, elementwise_affine=True)',
      '  (classifier): Linear(in_features=192, out_features=1000, bias=True)',
    ]) {
      expect(text.split('\n'), line).toContain(line);
    }
  });

  it('is exactly the plain-torch HF model printed by torch (GELUActivation is our GELU)', () => {
    // transformers' activation class prints as GELUActivation(); ours is nn's GELU, the same
    // exact-erf GELU under torch.nn's name. Every other line is identical.
    const act = /\(intermediate_act_fn\): .*$/gm;
    expect(text.match(act)?.[0]).toMatch(/^\(intermediate_act_fn\): GELU\((approximate='none')?\)$/);
    expect(ref.vit_tiny_repr.match(act)?.[0]).toBe('(intermediate_act_fn): GELUActivation()');
    expect(text.replace(act, '(intermediate_act_fn): GELU')).toBe(ref.vit_tiny_repr.replace(act, '(intermediate_act_fn): GELU'));
  });

  it('names and shapes every tensor as Hugging Face, in state_dict order', () => {
    expect(shapesOf(model)).toEqual(ref.state_dict_shapes['vit-tiny']);
    expect(model.numParameters()).toBe(ref.param_counts['vit-tiny']);
    expect(model.numParameters()).toBe(5_717_416);
  });
});

describe('DeiT structure', () => {
  it('deit-tiny: HF names and shapes (distillation token, two heads), 5,910,800 parameters', () => {
    const model = createModel(presetConfig('deit-tiny'));
    expect(model).toBeInstanceOf(DeiTForImageClassificationWithTeacher);
    expect(shapesOf(model)).toEqual(ref.state_dict_shapes['deit-tiny']);
    expect(model.numParameters()).toBe(5_910_800);
    const text = model.toString();
    expect(text.startsWith('DeiTForImageClassificationWithTeacher(\n  (deit): DeiTModel(\n    (embeddings): DeiTEmbeddings(')).toBe(true);
    expect(text).toContain('(0-11): 12 x DeiTLayer(');
    expect(text).toContain('(cls_classifier): Linear(in_features=192, out_features=1000, bias=True)');
    expect(text).toContain('(distillation_classifier): Linear(in_features=192, out_features=1000, bias=True)');
  });

  it('forwardHeads: logits are the mean of the two heads, forward returns them', () => {
    const model = createModel(presetConfig('deit-mnist', { numHiddenLayers: 1 }), { generator: new Generator(3) }) as DeiTForImageClassificationWithTeacher;
    const x = randn([2, 1, 28, 28], { generator: new Generator(4) });
    const { logits, clsLogits, distillationLogits } = model.forwardHeads(x);
    expect([...logits.shape]).toEqual([2, 10]);
    for (let i = 0; i < 20; i++) expect(logits.data[i]).toBeCloseTo((clsLogits.data[i]! + distillationLogits.data[i]!) / 2, 6);
    expect(Array.from(model.forward(x).data)).toEqual(Array.from(logits.data));
    // Random init: the heads differ (they read different tokens with different weights).
    expect(Array.from(clsLogits.data)).not.toEqual(Array.from(distillationLogits.data));
  });
});

describe('parameter counts of the presets equal the Hugging Face models', () => {
  it('vit-base with 1000 labels has 86,567,656 parameters, named and shaped as HF (built once)', () => {
    const model = createModel(presetConfig('vit-base'));
    expect(model.numParameters()).toBe(86_567_656);
    expect(shapesOf(model)).toEqual(ref.state_dict_shapes['vit-base']);
  });

  // The other 224 px sizes are not allocated (22-87M floats each): a model's count is
  // embeddings + heads + L * (one layer), so one- and two-layer models of the same width,
  // built for real, give every term, and L = 12 is extrapolated.
  it.each(['vit-small', 'deit-small', 'deit-base'])('%s (extrapolated from 1- and 2-layer builds)', (name) => {
    const one = createModel(presetConfig(name, { numHiddenLayers: 1 })).numParameters();
    const two = createModel(presetConfig(name, { numHiddenLayers: 2 })).numParameters();
    const layers = presetConfig(name).numHiddenLayers;
    expect(one + (layers - 1) * (two - one)).toBe(ref.param_counts[name]);
  });

  it('the reference holds the known HF counts', () => {
    expect(ref.param_counts['vit-base']).toBe(86_567_656);
    expect(ref.param_counts['deit-tiny']).toBe(5_910_800);
    expect(ref.param_counts['vit-small']).toBe(22_050_664);
  });
});

describe('presets', () => {
  it('every name has a config; the reference knows every preset', () => {
    expect(PRESET_NAMES.length).toBe(14);
    expect(Object.keys(ref.param_counts).sort()).toEqual([...PRESET_NAMES].sort());
    for (const name of PRESET_NAMES) {
      const c = presetConfig(name);
      expect(c.modelType).toBe(name.startsWith('deit') ? 'deit' : 'vit');
      expect(c.hiddenSize % c.numAttentionHeads).toBe(0);
      expect(c.imageSize % c.patchSize).toBe(0);
    }
  });

  it.each(PRESET_NAMES.filter((n) => !/-(tiny|small|base)$/.test(n)))('%s builds with the reference count and classifies a batch', (name) => {
    const c = presetConfig(name);
    const model = createModel(c, { generator: new Generator(1) });
    expect(model.numParameters()).toBe(ref.param_counts[name]);
    const logits = model.forward(randn([2, c.numChannels, c.imageSize, c.imageSize], { generator: new Generator(2) }));
    expect([...logits.shape]).toEqual([2, c.numLabels]);
    expect(logits.data.every(Number.isFinite)).toBe(true);
  });

  it('overrides win; an unknown name lists the known ones', () => {
    const c = presetConfig('vit-cifar', { numLabels: 100, qkvBias: false });
    expect(c.numLabels).toBe(100);
    expect(c.qkvBias).toBe(false);
    expect(Object.keys(c.id2label).length).toBe(100);
    expect(() => presetConfig('vit-huge')).toThrow(/presetConfig: unknown preset "vit-huge" \(known: vit-tiny, deit-tiny, .*vit-mnist/);
    expect(() => presetConfig('tiny')).toThrow(/unknown preset "tiny"/);
  });

  it('qkv_bias false removes exactly the query/key/value biases', () => {
    const names = createModel(presetConfig('vit-mnist', { qkvBias: false })).namedParameters().map(([n]) => n);
    expect(names.some((n) => /attention\.attention\.(query|key|value)\.bias$/.test(n))).toBe(false);
    expect(names).toContain('vit.encoder.layer.0.attention.output.dense.bias');
    expect(names).toContain('vit.encoder.layer.0.attention.attention.query.weight');
  });
});

describe("Hugging Face's init (ViTPreTrainedModel._init_weights)", () => {
  it('weights and tokens ~ N(0, initializer_range), biases 0, LayerNorms 1 and 0; a seed repeats it', () => {
    const config = presetConfig('vit-cifar');
    const model = createModel(config, { generator: new Generator(11) });
    for (const [name, p] of model.namedParameters()) {
      const d = p.data;
      if (name.endsWith('.bias')) expect(d.every((v) => v === 0), name).toBe(true);
      else if (/layernorm(_before|_after)?\.weight$/.test(name)) expect(d.every((v) => v === 1), name).toBe(true);
      else if (d.length >= 1000) {
        let s = 0;
        let s2 = 0;
        for (const v of d) {
          s += v;
          s2 += v * v;
        }
        const mean = s / d.length;
        const std = Math.sqrt(s2 / d.length - mean * mean);
        expect(Math.abs(mean), name).toBeLessThan(0.003);
        expect(std, name).toBeGreaterThan(0.018);
        expect(std, name).toBeLessThan(0.022);
      }
    }
    const again = createModel(config, { generator: new Generator(11) });
    const w = (m: typeof model): Float32Array => m.stateDict().get('vit.encoder.layer.3.intermediate.dense.weight')!.data;
    expect(Array.from(w(again))).toEqual(Array.from(w(model)));
    // initWeights can be rerun on an existing model with another range.
    initWeights(again, config.clone({ initializerRange: 0.5 }), new Generator(12));
    expect(Math.max(...w(again).map(Math.abs))).toBeGreaterThan(1);
  });
});

describe('dropout (hidden_dropout_prob, attention_probs_dropout_prob)', () => {
  it('is active in train(), off in eval(), where the model equals its dropout-free twin', () => {
    const base = presetConfig('vit-mnist', { numHiddenLayers: 2 });
    const plain = createModel(base, { generator: new Generator(1) });
    const dropped = createModel(base.clone({ hiddenDropoutProb: 0.3, attentionProbsDropoutProb: 0.3 }), { generator: new Generator(9) });
    dropped.loadStateDict(plain.stateDict());
    const x = randn([2, 1, 28, 28], { generator: new Generator(2) });
    const reference = Array.from(plain.forward(x).data);

    dropped.train();
    const a = Array.from(dropped.forward(x).data);
    const b = Array.from(dropped.forward(x).data);
    expect(a).not.toEqual(b);
    expect(a).not.toEqual(reference);
    dropped.eval();
    expect(Array.from(dropped.forward(x).data)).toEqual(reference);
    // The text says where the probabilities went.
    expect(dropped.toString()).toContain('(dropout): Dropout(p=0.3, inplace=False)');
  });

  it.each([
    ['hidden', { hiddenDropoutProb: 0.3 }],
    ['attention', { attentionProbsDropoutProb: 0.3 }],
  ] as const)('%s dropout alone changes training outputs', (_which, overrides) => {
    const model = createModel(presetConfig('deit-mnist', { numHiddenLayers: 1, ...overrides }), { generator: new Generator(1) });
    const x = randn([2, 1, 28, 28], { generator: new Generator(2) });
    const first = Array.from(model.forward(x).data);
    expect(Array.from(model.forward(x).data)).not.toEqual(first);
    model.eval();
    expect(Array.from(model.forward(x).data)).toEqual(Array.from(model.forward(x).data));
  });
});

describe('errors', () => {
  const config = presetConfig('vit-mnist', { numHiddenLayers: 1 });
  const model = createModel(config);

  it('a wrong input shape names the module and both shapes', () => {
    expect(() => model.forward(zeros([2, 3, 28, 28]))).toThrow('ViTEmbeddings: input [2,3,28,28] is not [batch, 1, 28, 28]');
    expect(() => model.forward(zeros([2, 1, 32, 32]))).toThrow(/ViTEmbeddings: input \[2,1,32,32\] is not \[batch, 1, 28, 28\]/);
    expect(() => model.forward(zeros([1, 28, 28]))).toThrow(/ViTEmbeddings: input \[1,28,28\]/);
  });

  it('each class refuses the other family', () => {
    expect(() => new ViTForImageClassification(presetConfig('deit-mnist'))).toThrow('ViTForImageClassification: config has model_type "deit"');
    expect(() => new DeiTForImageClassificationWithTeacher(presetConfig('vit-mnist'))).toThrow(/model_type "vit"/);
  });

  it('an impossible config says which field is wrong', () => {
    expect(() => new ViTConfig({ hiddenSize: 100, numAttentionHeads: 3 })).toThrow('ViTConfig: hidden_size 100 is not a multiple of num_attention_heads 3');
    expect(() => new ViTConfig({ imageSize: 30, patchSize: 7 })).toThrow(/image_size 30 is not a multiple of patch_size 7/);
    expect(() => new ViTConfig({ hiddenAct: 'gelu_new' })).toThrow(/hidden_act "gelu_new" is not supported/);
    expect(() => new ViTConfig({ numHiddenLayers: 0 })).toThrow(/numHiddenLayers must be a positive integer, got 0/);
  });
});
