// Elementwise ops, each with its backward beside it. Binary ops broadcast like NumPy; the
// backward sums a gradient back down to each input's shape (sumToShape).
import { record } from '../autograd.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { sameShape, type Shape } from '../shape.js';
import { kernels } from '../kernels/index.js';
import type { BinaryOp } from '../kernels/backend.js';

/** Numbers become 0-d tensors, so `x.mul(2)` broadcasts like `x.mul(tensor(2))`. */
export function toTensor(x: TensorLike): Tensor {
  return typeof x === 'number' ? new Tensor(Float32Array.of(x), []) : x;
}

/** Sum a broadcast gradient back to `shape`: over the leading dims it gained and the dims that were 1. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.shape.length - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.shape.length; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  }
  const summed = dims.length > 0 ? kernels().reduce('sum', g, dims, true) : g;
  return new Tensor(summed.deviceStorage ?? summed.data, shape);
}

function bin(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  return kernels().binary(op, a, b);
}

// add: d(a+b) = (g, g), each summed back to its input's shape.
export function add(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [toTensor(a), toTensor(b)];
  return record('add', bin('add', x, y), [x, y], (g) => [sumToShape(g, x.shape), sumToShape(g, y.shape)]);
}

// sub: d(a-b) = (g, -g).
export function sub(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [toTensor(a), toTensor(b)];
  return record('sub', bin('sub', x, y), [x, y], (g) => [sumToShape(g, x.shape), sumToShape(neg(g), y.shape)]);
}

// mul: d(a*b) = (g*b, g*a).
export function mul(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [toTensor(a), toTensor(b)];
  return record('mul', bin('mul', x, y), [x, y], (g) => [
    x.requiresGrad ? sumToShape(mul(g, y), x.shape) : null,
    y.requiresGrad ? sumToShape(mul(g, x), y.shape) : null,
  ]);
}

// div: d(a/b) = (g/b, -g*a/b^2) = (g/b, -g*out/b).
export function div(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [toTensor(a), toTensor(b)];
  const out = bin('div', x, y);
  return record('div', out, [x, y], (g) => {
    const gx = div(g, y);
    return [sumToShape(gx, x.shape), y.requiresGrad ? sumToShape(neg(mul(gx, out)), y.shape) : null];
  });
}

// pow: d(a^b) = (g*b*a^(b-1), g*out*log(a)).
export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [toTensor(a), toTensor(b)];
  const out = bin('pow', x, y);
  return record('pow', out, [x, y], (g) => [
    x.requiresGrad ? sumToShape(mul(g, mul(y, pow(x, sub(y, 1)))), x.shape) : null,
    y.requiresGrad ? sumToShape(mul(g, mul(out, log(x))), y.shape) : null,
  ]);
}

// maximum/minimum: the gradient goes to the larger (smaller) input; ties split it evenly, as PyTorch does.
function extremum(op: 'maximum' | 'minimum', a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [toTensor(a), toTensor(b)];
  return record(op, bin(op, x, y), [x, y], (g) => {
    const wins = bin(op === 'maximum' ? 'gt' : 'lt', x, y);
    const ties = bin('mul', bin('eq', x, y), toTensor(0.5));
    const toX = bin('add', wins, ties);
    return [sumToShape(mul(g, toX), x.shape), sumToShape(mul(g, sub(1, toX)), y.shape)];
  });
}
export const maximum = (a: TensorLike, b: TensorLike): Tensor => extremum('maximum', a, b);
export const minimum = (a: TensorLike, b: TensorLike): Tensor => extremum('minimum', a, b);

// Comparisons give 1 or 0 and have no gradient.
export const gt = (a: TensorLike, b: TensorLike): Tensor => bin('gt', toTensor(a), toTensor(b));
export const ge = (a: TensorLike, b: TensorLike): Tensor => bin('ge', toTensor(a), toTensor(b));
export const lt = (a: TensorLike, b: TensorLike): Tensor => bin('lt', toTensor(a), toTensor(b));
export const le = (a: TensorLike, b: TensorLike): Tensor => bin('le', toTensor(a), toTensor(b));
export const eq = (a: TensorLike, b: TensorLike): Tensor => bin('eq', toTensor(a), toTensor(b));

// neg: d(-a) = -g.
export function neg(a: Tensor): Tensor {
  return record('neg', kernels().unary('neg', a), [a], (g) => [neg(g)]);
}

// exp: d exp(a) = g*out.
export function exp(a: Tensor): Tensor {
  const out = kernels().unary('exp', a);
  return record('exp', out, [a], (g) => [mul(g, out)]);
}

// log: d log(a) = g/a.
export function log(a: Tensor): Tensor {
  return record('log', kernels().unary('log', a), [a], (g) => [div(g, a)]);
}

// sqrt: d sqrt(a) = g / (2*out).
export function sqrt(a: Tensor): Tensor {
  const out = kernels().unary('sqrt', a);
  return record('sqrt', out, [a], (g) => [div(g, mul(out, 2))]);
}

// rsqrt: d a^(-1/2) = -g * out^3 / 2.
export function rsqrt(a: Tensor): Tensor {
  const out = kernels().unary('rsqrt', a);
  return record('rsqrt', out, [a], (g) => [mul(g, mul(pow(out, 3), -0.5))]);
}

// abs: d|a| = g*sign(a) (0 at 0, as PyTorch).
export function abs(a: Tensor): Tensor {
  return record('abs', kernels().unary('abs', a), [a], (g) => [mul(g, kernels().unary('sign', a))]);
}

// sign, round: piecewise constant, so the gradient is zero (PyTorch gives zeros too).
export function sign(a: Tensor): Tensor {
  return record('sign', kernels().unary('sign', a), [a], () => [null]);
}

/** Round half to even, as torch.round (Math.round rounds -2.5 to -2 but 2.5 to 3). */
export function round(a: Tensor): Tensor {
  return record('round', kernels().unary('round', a), [a], () => [null]);
}

// tanh: d tanh(a) = g*(1 - out^2).
export function tanh(a: Tensor): Tensor {
  const out = kernels().unary('tanh', a);
  return record('tanh', out, [a], (g) => [mul(g, sub(1, mul(out, out)))]);
}

// sigmoid: d s(a) = g*out*(1 - out).
export function sigmoid(a: Tensor): Tensor {
  const out = kernels().unary('sigmoid', a);
  return record('sigmoid', out, [a], (g) => [mul(g, mul(out, sub(1, out)))]);
}

// relu: the gradient passes where a > 0.
export function relu(a: Tensor): Tensor {
  return record('relu', kernels().unary('relu', a), [a], (g) => [mul(g, gt(a, 0))]);
}

// gelu (exact, erf form): d gelu(a) = g*(Phi(a) + a*phi(a)), one fused kernel.
export function gelu(a: Tensor): Tensor {
  const y = kernels().unary('gelu', a);
  return record('gelu', y, [a], (g) => [kernels().geluBackward(a, g, y)]); // y: Phi(a) = y / a
}

// clamp: the gradient passes where min <= a <= max (inclusive, as PyTorch).
export function clamp(a: Tensor, min: number | null, max: number | null): Tensor {
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  return record('clamp', kernels().clamp(a, lo, hi), [a], (g) => [
    mul(g, mul(ge(a, lo), le(a, hi))),
  ]);
}

// where: the gradient goes to a where cond holds, to b elsewhere; cond gets none.
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [toTensor(a), toTensor(b)];
  return record('where', kernels().where(cond, x, y), [cond, x, y], (g) => {
    const zero = toTensor(0);
    return [
      null,
      sumToShape(kernels().where(cond, g, zero), x.shape),
      sumToShape(kernels().where(cond, zero, g), y.shape),
    ];
  });
}
