// Weight initialisers, in place and seeded (torch.nn.init's names, camelCased). Each marks the
// tensor changed (Tensor.version), so a prepacked copy of it is not used after.
import { type Generator, defaultGenerator, type Tensor } from '@bitvit/tensor';

function gen(g?: Generator): Generator {
  return g ?? defaultGenerator();
}

/** fan_in and fan_out as PyTorch computes them: [out, in, ...kernel] layout. */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) throw new Error(`init: fan in/out need at least 2 dims, got [${t.shape.join(',')}]`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1]! * receptive, fanOut: t.shape[0]! * receptive };
}

export function constant_(t: Tensor, value: number): Tensor {
  t.data.fill(value);
  t.markChanged();
  return t;
}

export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

export function uniform_(t: Tensor, low = 0, high = 1, g?: Generator): Tensor {
  const r = gen(g);
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = low + (high - low) * r.random();
  t.markChanged();
  return t;
}

export function normal_(t: Tensor, mean = 0, std = 1, g?: Generator): Tensor {
  const r = gen(g);
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = mean + std * r.normal();
  t.markChanged();
  return t;
}

/**
 * Normal(mean, std) truncated to [a, b] (absolute bounds, as torch.nn.init.trunc_normal_ and timm),
 * by redrawing values that fall outside.
 */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2, g?: Generator): Tensor {
  const r = gen(g);
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    let v: number;
    let tries = 0;
    do {
      v = mean + std * r.normal();
      if (++tries > 1000) throw new Error(`truncNormal_: [${a}, ${b}] is too far from mean ${mean} with std ${std}`);
    } while (v < a || v > b);
    d[i] = v;
  }
  t.markChanged();
  return t;
}

/** Glorot: U(-bound, bound) with bound = gain * sqrt(6 / (fan_in + fan_out)). */
export function xavierUniform_(t: Tensor, gain = 1, g?: Generator): Tensor {
  const { fanIn, fanOut } = fans(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound, g);
}

export function xavierNormal_(t: Tensor, gain = 1, g?: Generator): Tensor {
  const { fanIn, fanOut } = fans(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), g);
}

/**
 * He: U(-bound, bound) with bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)) for leaky ReLU.
 * nn.Linear's default init is kaimingUniform_(w, sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 */
export function kaimingUniform_(t: Tensor, a = 0, g?: Generator): Tensor {
  const { fanIn } = fans(t);
  const bound = Math.sqrt(2 / (1 + a * a)) * Math.sqrt(3 / fanIn);
  return uniform_(t, -bound, bound, g);
}

export function kaimingNormal_(t: Tensor, a = 0, g?: Generator): Tensor {
  const { fanIn } = fans(t);
  return normal_(t, 0, Math.sqrt(2 / (1 + a * a)) / Math.sqrt(fanIn), g);
}
