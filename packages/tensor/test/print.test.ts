// Printing: every expected string below is what PyTorch 1.13 prints (repr) for the same tensor.
import { describe, expect, it } from 'vitest';
import { arange, round, tensor, zeros } from '../src/index.js';

describe('small tensors print exactly as PyTorch', () => {
  const cases: Array<[string, () => string, string]> = [
    ['integer values', () => `${tensor([1, 2, 3])}`, 'tensor([1., 2., 3.])'],
    ['one width for all values', () => `${tensor([-1, 2])}`, 'tensor([-1.,  2.])'],
    ['a matrix', () => `${tensor([[1.5, -2.25], [3, 4]])}`, 'tensor([[ 1.5000, -2.2500],\n        [ 3.0000,  4.0000]])'],
    ['a scalar', () => `${tensor(3.5)}`, 'tensor(3.5000)'],
    ['an integer scalar', () => `${tensor(2)}`, 'tensor(2.)'],
    ['scientific below 1e-4', () => `${tensor([1e-5, 1])}`, 'tensor([1.0000e-05, 1.0000e+00])'],
    ['scientific past a 1000x range', () => `${tensor([0.5, 1000])}`, 'tensor([5.0000e-01, 1.0000e+03])'],
    ['3-D with a blank line between matrices', () => `${arange(1, 9).reshape(2, 2, 2)}`,
      'tensor([[[1., 2.],\n         [3., 4.]],\n\n        [[5., 6.],\n         [7., 8.]]])'],
    ['round half to even, with -0', () => `${round(tensor([-0.5, 0.5, 1.5, 2.5, -1.5, -2.5]))}`, 'tensor([-0.,  0.,  2.,  2., -2., -2.])'],
    ['nan and inf', () => `${tensor([NaN, 1.5, Infinity])}`, 'tensor([   nan, 1.5000,    inf])'],
    ['-0 in fixed mode', () => `${tensor([-0, 0.25])}`, 'tensor([-0.0000, 0.2500])'],
    ['widths from the widest value', () => `${tensor([100.5, 0.25])}`, 'tensor([100.5000,   0.2500])'],
    ['ties round to even like Python (1/32 -> 0.0312)', () => `${tensor([0.03125, -0.09375, 1.5])}`, 'tensor([ 0.0312, -0.0938,  1.5000])'],
    ['lines wrap at 80 columns', () => `${arange(20).div(4)}`,
      'tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000, 1.2500, 1.5000, 1.7500, 2.0000,\n        2.2500, 2.5000, 2.7500, 3.0000, 3.2500, 3.5000, 3.7500, 4.0000, 4.2500,\n        4.5000, 4.7500])'],
    ['integer lines wrap too', () => `${arange(30)}`,
      'tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n        28., 29.])'],
    ['empty', () => `${tensor([])}`, 'tensor([])'],
    ['empty with a shape', () => `${zeros([2, 0])}`, 'tensor([], size=(2, 0))'],
    ['a leaf that requires grad', () => `${tensor([1, 2], undefined, { requiresGrad: true })}`, 'tensor([1., 2.], requires_grad=True)'],
  ];
  for (const [label, print, want] of cases) it(label, () => expect(print()).toBe(want));

  it('a result of an op names the op that made it (PyTorch would say MulBackward0)', () => {
    const x = tensor([1, 2], undefined, { requiresGrad: true });
    expect(`${x.mul(2)}`).toBe('tensor([2., 4.], grad_fn=<mul>)');
  });
});

describe('big tensors are summarised (more than 1000 values)', () => {
  it('1-D: the first and last three, formatted from those values only', () => {
    expect(`${zeros([1001])}`).toBe('tensor([0., 0., 0.,  ..., 0., 0., 0.])');
    expect(`${arange(2000).div(1000)}`).toBe('tensor([0.0000e+00, 1.0000e-03, 2.0000e-03,  ..., 1.9970e+00, 1.9980e+00,\n        1.9990e+00])');
  });

  it('2-D: three rows, "...", three rows, each row summarised', () => {
    const t = tensor(Array.from({ length: 2000 }, (_, i) => i % 7), [40, 50]);
    expect(`${t}`).toBe(
      'tensor([[0., 1., 2.,  ..., 5., 6., 0.],\n' +
      '        [1., 2., 3.,  ..., 6., 0., 1.],\n' +
      '        [2., 3., 4.,  ..., 0., 1., 2.],\n' +
      '        ...,\n' +
      '        [2., 3., 4.,  ..., 0., 1., 2.],\n' +
      '        [3., 4., 5.,  ..., 1., 2., 3.],\n' +
      '        [4., 5., 6.,  ..., 2., 3., 4.]])',
    );
  });

  it('a large tensor prints in a few lines, not a million values', () => {
    const s = `${zeros([1000, 1000])}`;
    expect(s.split('\n').length).toBe(7);
    expect(s.length).toBeLessThan(400);
  });
});
