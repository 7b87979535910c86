// Outputs and gradients against PyTorch (test/ref/torch_reference.json, made by
// test/ref/make_reference.py) for the ops where float32 finite differences are too coarse to
// trust alone: softmax, logSoftmax, layerNorm, gelu, matmul chains, attention, linear, cross
// entropy, var, and round's half-to-even cases. Tolerance: rtol 1e-5, atol 1e-6.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tensor, layerNorm, linear, matmul, round, tensor, variance } from '../src/index.js';
import { expectClose } from './helpers.js';

interface Json { shape: number[]; data: number[] }
interface Case {
  inputs: Record<string, Json>;
  consts: Record<string, number[]>;
  out: Json;
  w?: Json;
  grads?: Record<string, Json>;
}
const ref = JSON.parse(readFileSync(new URL('./ref/torch_reference.json', import.meta.url), 'utf8')) as { cases: Record<string, Case> };

const TOL = { rtol: 1e-5, atol: 1e-6 };

type Inputs = Record<string, Tensor>;
const ops: Record<string, (x: Inputs, c: Case['consts']) => Tensor> = {
  softmax_last: ({ x }) => x!.softmax(-1),
  softmax_dim1: ({ x }) => x!.softmax(1),
  logSoftmax_last_large: ({ x }) => x!.logSoftmax(-1),
  logSoftmax_dim0: ({ x }) => x!.logSoftmax(0),
  'layerNorm_eps1e-5': ({ x, weight, bias }) => layerNorm(x!, weight!, bias!, 1e-5),
  'layerNorm_eps1e-12': ({ x, weight, bias }) => layerNorm(x!, weight!, bias!, 1e-12),
  'layerNorm_tinyvar_eps1e-5': ({ x, weight, bias }) => layerNorm(x!, weight!, bias!, 1e-5),
  layerNorm_noaffine: ({ x }) => layerNorm(x!, null, null, 1e-5),
  gelu: ({ x }) => x!.gelu(),
  matmul_chain: ({ a, b, c }) => matmul(matmul(a!, b!).relu(), c!),
  matmul_chain_batched: ({ a, b, c }) => matmul(matmul(a!, b!).relu(), c!),
  attention: ({ q, k, v }) => matmul(matmul(q!, k!, { transB: true }).div(2).softmax(-1), v!),
  linear: ({ x, weight, bias }) => linear(x!, weight!, bias!),
  cross_entropy: ({ logits }, c) => {
    const target = tensor(c.target!, [c.target!.length, 1]);
    return logits!.logSoftmax(-1).gather(1, target).mean().neg();
  },
  var_dim1_keepdim: ({ x }) => variance(x!, 1, true),
  var_all: ({ x }) => variance(x!),
  var_dims02_unbiased0: ({ x }) => variance(x!, [0, 2], false, 0),
  round: ({ x }) => round(x!),
};

describe('PyTorch reference values', () => {
  it('has a case for every op here and an op for every case there', () => {
    expect(Object.keys(ref.cases).sort()).toEqual(Object.keys(ops).sort());
  });

  for (const [name, c] of Object.entries(ref.cases)) {
    it(name, () => {
      const fn = ops[name]!;
      const inputs: Inputs = {};
      for (const [k, v] of Object.entries(c.inputs)) inputs[k] = tensor(v.data, v.shape, { requiresGrad: c.grads !== undefined });
      const out = fn(inputs, c.consts);
      expect(out.shape).toEqual(c.out.shape);
      expectClose(out, c.out.data, { ...TOL, label: `${name} out` });
      if (!c.grads) return;
      out.backward(tensor(c.w!.data, c.w!.shape));
      for (const [k, g] of Object.entries(c.grads)) {
        expect(inputs[k]!.grad?.shape, `${name} grad ${k}`).toEqual(g.shape);
        expectClose(inputs[k]!.grad!, g.data, { ...TOL, label: `${name} grad ${k}` });
      }
    });
  }

  it('round keeps the sign of zero as torch.round does', () => {
    const c = ref.cases.round!;
    const got = round(tensor(c.inputs.x!.data)).data;
    c.out.data.forEach((v, i) => expect(Object.is(got[i], v), `element ${i}: ${got[i]} vs ${v}`).toBe(true));
  });
});
