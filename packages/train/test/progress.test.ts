// Progress: a bar redrawn in place on a terminal, plain lines at most every N seconds otherwise.
import { describe, expect, it } from 'vitest';
import { Progress } from '../src/index.js';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = { isTTY, columns: 200, write: (s: string) => chunks.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, text: () => chunks.join('') };
}

describe('Progress', () => {
  it('on a terminal redraws one line with a bar, the fields, rate and ETA', () => {
    const { stream, text } = fakeStream(true);
    const p = new Progress(stream, 10, true);
    p.update({ label: 'epoch 1/4', done: 12, total: 48, fields: { loss: '0.5000', acc: '90.0%' }, rate: 1234.4, rateUnit: 'img/s' }, 3725);
    p.update({ label: 'epoch 1/4', done: 48, total: 48 });
    p.log('epoch 1: val accuracy 97.00%');
    expect(text()).toBe(
      '\repoch 1/4 [=====>                  ] 12/48  loss 0.5000  acc 90.0%  1234 img/s  ETA 1:02:05\x1b[K' +
      '\repoch 1/4 [=======================>] 48/48  \x1b[K' +
      '\nepoch 1: val accuracy 97.00%\n',
    );
  });

  it('without a terminal writes a plain line at most every plainEverySeconds, unless forced', () => {
    const { stream, text } = fakeStream(false);
    const p = new Progress(stream, 10, false);
    p.update({ label: 'test', done: 1, total: 4 }, 65);
    p.update({ label: 'test', done: 2, total: 4 }); // within 10 s: skipped
    p.update({ label: 'test', done: 4, total: 4 }, undefined, true);
    p.done();
    expect(text()).toBe('test 1/4 (25%)    ETA 1:05\ntest 4/4 (100%)  \n');
  });

  it('shows an unknown ETA as --:--', () => {
    const { stream, text } = fakeStream(false);
    new Progress(stream, 10, false).update({ label: 'x', done: 0, total: 0 }, Infinity);
    expect(text()).toBe('x 0/0 (0%)    ETA --:--\n');
  });
});
