// forwardShared: layers that read the same input prepare it once, and give what their own
// forwards give; a forward hook or a subclass's forward is never skipped.
import { describe, expect, it } from 'vitest';
import { Generator, linear, randn, type Tensor } from '@bitvit/tensor';
import { Linear, forwardShared, type SharedInputLayer } from '../src/index.js';

const g = new Generator(3);

/** A layer whose prepare doubles its input, counting the calls (a stand-in for a quantizer). */
class Doubling extends Linear implements SharedInputLayer {
  static prepared = 0;
  constructor(override readonly inputKey: string | null) {
    super(4, 3, { generator: g });
  }
  override forward(x: Tensor): Tensor {
    return this.forwardPrepared(this.prepare(x));
  }
  override prepare(x: Tensor): Tensor {
    Doubling.prepared++;
    return x.mul(2);
  }
  override forwardPrepared(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

describe('forwardShared', () => {
  const x = randn([2, 5, 4], { generator: g });

  it('gives each layer its own forward, bit for bit, preparing the input once', () => {
    const layers = [new Doubling('x2'), new Doubling('x2'), new Doubling('x2')];
    const separate = layers.map((m) => m.forward(x));
    Doubling.prepared = 0;
    const shared = forwardShared(layers, x);
    expect(Doubling.prepared).toBe(1);
    shared.forEach((y, i) => expect(Array.from(y.data)).toEqual(Array.from(separate[i]!.data)));
  });

  it('prepares per layer when the keys differ or are null', () => {
    Doubling.prepared = 0;
    forwardShared([new Doubling('x2'), new Doubling('other')], x);
    expect(Doubling.prepared).toBe(2);
    forwardShared([new Doubling(null), new Doubling(null)], x);
    expect(Doubling.prepared).toBe(4);
  });

  it('runs a forward hook and a subclass forward as they are', () => {
    const hooked = new Doubling('x2');
    const seen: Tensor[] = [];
    const handle = hooked.registerForwardHook((_m, inputs) => seen.push(inputs[0] as Tensor));
    Doubling.prepared = 0;
    forwardShared([new Doubling('x2'), hooked], x);
    expect(seen).toHaveLength(1); // the hook saw the call
    expect(Doubling.prepared).toBe(2);
    handle.remove();

    class Negated extends Linear {
      override forward(t: Tensor): Tensor {
        return super.forward(t).neg();
      }
    }
    const plain = new Linear(4, 3, { generator: g });
    const negated = new Negated(4, 3, { generator: g });
    const [, y] = forwardShared([plain, negated], x);
    expect(Array.from(y!.data)).toEqual(Array.from(negated.forward(x).data));
  });
});
