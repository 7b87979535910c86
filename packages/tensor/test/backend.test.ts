// The backend switch: a backend is an object implementing the Backend interface; registerBackend
// makes it selectable and setBackend routes every op's forward and backward through it.
import { afterEach, describe, expect, it } from 'vitest';
import { type Backend, cpuBackend, getBackend, matmul, registerBackend, setBackend, tensor } from '../src/index.js';
import { expectClose } from './helpers.js';

afterEach(() => {
  setBackend('cpu');
});

describe('backends', () => {
  it('cpu is the default', () => {
    expect(getBackend().name).toBe('cpu');
    expect(getBackend()).toBe(cpuBackend);
  });

  it('a registered backend runs the forward and the backward of every op it is asked for', () => {
    const calls: string[] = [];
    const counting: Backend = {
      ...cpuBackend,
      name: 'counting',
      describe: () => 'cpu, counting matmul and softmax calls',
      matmul: (a, b, ta, tb) => {
        calls.push(`matmul ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`);
        return cpuBackend.matmul(a, b, ta, tb);
      },
      softmaxBackward: (y, g) => {
        calls.push('softmaxBackward');
        return cpuBackend.softmaxBackward(y, g);
      },
    };
    registerBackend(counting);
    expect(setBackend('counting')).toBe(counting);
    const a = tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
    const b = tensor([[0.5, -1], [2, 0]], undefined, { requiresGrad: true });
    const y = matmul(a, b).softmax(-1);
    y.backward(tensor([[1, 0], [0, 1]]));
    // one forward matmul, then dA = G B^T and dB = A^T G, with no transposed copies
    expect(calls).toEqual(['matmul NN', 'softmaxBackward', 'matmul NT', 'matmul TN']);
    setBackend('cpu');
    const a2 = tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
    matmul(a2, b.detach()).softmax(-1).backward(tensor([[1, 0], [0, 1]]));
    expectClose(a.grad!, a2.grad!.data); // the same math, whichever backend ran it
  });

  it('an unknown name is an error that lists the registered backends', () => {
    expect(() => setBackend('tpu')).toThrow(/setBackend: unknown backend "tpu" \(registered: cpu/);
  });
});
