// tidy() and keep() on the CPU: pooled arrays made inside come back at the scope's end, not
// when the collector gets to them.
import { describe, expect, it } from 'vitest';
import {
  Generator, Tensor, gelu, keep, layerNorm, linear, matmul, noGrad, randn, storagePoolStats, tidy,
} from '../src/index.js';

const BIG = [64, 256] as const; // 16384 floats: a pooled array (small ones are plain)
const outstanding = (): number => storagePoolStats().outstandingBytes;

function layer(x: Tensor, w: Tensor): Tensor {
  return gelu(layerNorm(linear(x, w), null, null)).mul(2).add(x);
}

describe('tidy on the CPU', () => {
  const g = new Generator(5);
  const x = randn([...BIG], { generator: g });
  const w = randn([256, 256], { generator: g });

  it('gives the blocks of everything made inside back at once, except what it returns', () => {
    const want = Array.from(noGrad(() => layer(x, w)).data);
    const before = outstanding();
    const y = tidy(() => noGrad(() => layer(x, w)));
    // one block out: the result's (a 64 KiB array gets a 128 KiB block with its padding)
    expect(outstanding() - before).toBe(storageBlockOf(y));
    expect(Array.from(y.data)).toEqual(want);
  });

  it('reuses the freed blocks for the next call, with the same results', () => {
    const first = tidy(() => noGrad(() => layer(x, w)));
    const want = Array.from(first.data);
    const heapBefore = storagePoolStats().heapBytes;
    for (let i = 0; i < 20; i++) {
      const again = tidy(() => noGrad(() => layer(x, w)));
      expect(Array.from(again.data)).toEqual(want);
    }
    // each call makes five arrays of 64 KiB (128 KiB blocks): 20 calls without tidy take 12.5 MiB
    // more, with it only the results' blocks (out until the collector finds them) are new
    expect(storagePoolStats().heapBytes - heapBefore).toBeLessThanOrEqual(20 * storageBlockOf(first));
  });

  it('throws, naming it, when a tensor made inside is read after the tidy', () => {
    let stashed: Tensor | null = null;
    tidy(() => {
      stashed = x.mul(3);
      return stashed.sum();
    });
    expect(() => stashed!.data).toThrow('Tensor [64,256]: its data was freed at the end of the tidy() that made it; return it from the tidy, or keep() it');
    // a reshape shares the array, so it is freed with it
    let view: Tensor | null = null;
    tidy(() => void (view = x.mul(3).reshape([256, 64])));
    expect(() => view!.data).toThrow('Tensor [256,64]: its data was freed');
  });

  it('never frees tensors made before it, and keeps what keep() names', () => {
    const outer = x.add(1);
    const want = Array.from(outer.data);
    let cached: Tensor | null = null;
    tidy(() => {
      outer.mul(2);
      cached = keep(x.mul(5));
      return null;
    });
    expect(Array.from(outer.data)).toEqual(want);
    expect(Array.from(cached!.data)).toEqual(Array.from(x.data, (v) => Math.fround(v * 5)));
    // nothing made later reuses the kept block
    tidy(() => x.mul(7).add(1));
    expect(Array.from(cached!.data)).toEqual(Array.from(x.data, (v) => Math.fround(v * 5)));
  });

  it('returns tensors inside arrays and plain objects; a nested tidy hands its result to the outer one', () => {
    let inner: Tensor[] = [];
    let dropped: Tensor | null = null;
    const { a, list } = tidy(() => {
      inner = tidy(() => [x.add(1), x.sub(1)]);
      dropped = inner[1]!;
      return { a: inner[0]!.mul(2), list: [x.neg(), 3] as const };
    });
    expect(Array.from(a.data)).toEqual(Array.from(x.data, (v) => Math.fround(Math.fround(v + 1) * 2)));
    expect(Array.from(list[0].data)).toEqual(Array.from(x.data, (v) => -v));
    // the nested tidy's results lived on into the outer one, which freed those it did not return
    expect(() => dropped!.data).toThrow('freed at the end of the tidy()');
    expect(() => inner[0]!.data).toThrow('freed at the end of the tidy()');
  });

  it('frees nothing when fn throws, and rethrows', () => {
    let made: Tensor | null = null;
    expect(() =>
      tidy(() => {
        made = x.mul(2);
        matmul(x, x); // [64, 256] @ [64, 256]: shapes do not fit
      }),
    ).toThrow(/matmul/);
    expect(Array.from(made!.data)).toEqual(Array.from(x.data, (v) => Math.fround(v * 2)));
  });

  it('frees a training step\'s graph, keeping the gradients read inside', () => {
    const p = randn([256, 256], { generator: g, requiresGrad: true });
    const loss = tidy(() => {
      const y = layer(x, p);
      const l = y.mul(y).sum();
      l.backward();
      return { loss: l.item(), grad: p.grad! };
    });
    expect(Number.isFinite(loss.loss)).toBe(true);
    expect(loss.grad.data.length).toBe(256 * 256);
  });
});

/** Bytes of the block the pool gave a tensor of this size (Heap.blockBytes of its floats and padding). */
function storageBlockOf(t: Tensor): number {
  return Math.max(64, 2 ** Math.ceil(Math.log2(t.size * 4 + 64)));
}
