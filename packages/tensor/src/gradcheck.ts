// Finite-difference gradient checking: compare backward() with central differences
// (f(x+h) - f(x-h)) / 2h on every input element. Storage is float32, so h is large-ish
// and the tolerances loose; ops where that is too coarse are checked against PyTorch values too.
import { Tensor } from './tensor.js';
import { noGrad } from './autograd.js';
import { Generator } from './random.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Seed of the random weights that turn a non-scalar output into a scalar. */
  seed?: number;
}

export interface GradcheckResult {
  ok: boolean;
  maxAbsError: number;
  /** The first mismatch, described, or '' when ok. */
  message: string;
}

/**
 * Check the gradients of fn with respect to each input. The output is reduced to a scalar as
 * sum(out * w) with fixed random w, so every output element's gradient is exercised.
 */
export function gradcheck(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const eps = opts.eps ?? 1e-2;
  const atol = opts.atol ?? 1e-3;
  const rtol = opts.rtol ?? 1e-2;
  const gen = new Generator(opts.seed ?? 1234);
  const leaves = inputs.map((t) => {
    const leaf = new Tensor(Float32Array.from(t.data), t.shape);
    leaf.requiresGrad = true;
    return leaf;
  });
  const probe = noGrad(() => fn(...leaves));
  const w = new Float32Array(probe.size);
  for (let i = 0; i < w.length; i++) w[i] = gen.random() * 2 - 1;
  const weighted = (out: Tensor): number => {
    const d = out.data;
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i]! * w[i]!;
    return s;
  };

  const out = fn(...leaves);
  out.backward(new Tensor(Float32Array.from(w), out.shape));

  let maxAbsError = 0;
  for (let k = 0; k < leaves.length; k++) {
    const leaf = leaves[k]!;
    const analytic = leaf.grad?.data ?? new Float32Array(leaf.size);
    const data = leaf.data;
    for (let i = 0; i < data.length; i++) {
      const orig = data[i]!;
      data[i] = orig + eps;
      const fp = noGrad(() => weighted(fn(...leaves)));
      data[i] = orig - eps;
      const fm = noGrad(() => weighted(fn(...leaves)));
      data[i] = orig;
      const numeric = (fp - fm) / (2 * eps);
      const err = Math.abs(numeric - analytic[i]!);
      maxAbsError = Math.max(maxAbsError, err);
      if (err > atol + rtol * Math.abs(numeric)) {
        return {
          ok: false,
          maxAbsError,
          message: `input ${k} [${leaf.shape.join(',')}] element ${i}: analytic ${analytic[i]} vs numeric ${numeric} (|diff| ${err.toExponential(2)})`,
        };
      }
    }
  }
  return { ok: true, maxAbsError, message: '' };
}
