// Losses against PyTorch 1.13 (values and gradients, ref/make_nn_reference.py), and their
// stability on logits of 1e4, where a naive softmax overflows.
import { describe, expect, it } from 'vitest';
import { tensor, type Tensor } from '@bitvit/tensor';
import { accuracy, crossEntropy, hardDistillationLoss, klDivLogits, mseLoss, softDistillationLoss } from '../src/index.js';
import { expectClose, ref, toTensor, type LossCase, type RefTensor } from './helpers.js';

function lossCase(name: string): LossCase {
  const c = ref.losses[name];
  if (!c) throw new Error(`nn_reference.json has no loss case "${name}"`);
  return c;
}

const input = (c: LossCase, key: string): Tensor => toTensor(c.inputs[key] as RefTensor, { requiresGrad: true });
const labels = (c: LossCase): number[] => c.inputs.targets as number[];

/** The loss value within float32 rounding of torch's. */
function expectValue(loss: Tensor, c: LossCase, what: string): void {
  expect(loss.shape, `${what}: a scalar`).toEqual([]);
  expectClose([loss.item()], [c.value], { atol: 1e-6, rtol: 2e-6, what: `${what} value` });
}

describe('crossEntropy', () => {
  it('matches F.cross_entropy: value and gradient', () => {
    const c = lossCase('cross_entropy');
    const logits = input(c, 'logits');
    const loss = crossEntropy(logits, labels(c));
    expectValue(loss, c, 'cross entropy');
    loss.backward();
    expectClose(logits.grad, c.grads.logits!, { atol: 1e-7, what: 'cross entropy gradient' });
  });

  it('with label smoothing 0.1 matches F.cross_entropy(label_smoothing=0.1)', () => {
    const c = lossCase('cross_entropy_ls0.1');
    const logits = input(c, 'logits');
    const loss = crossEntropy(logits, labels(c), { labelSmoothing: 0.1 });
    expectValue(loss, c, 'smoothed cross entropy');
    loss.backward();
    expectClose(logits.grad, c.grads.logits!, { atol: 1e-7, what: 'smoothed cross entropy gradient' });
  });

  it('takes targets as an array, an Int32Array or a Tensor, with the same result', () => {
    const c = lossCase('cross_entropy');
    const logits = toTensor(c.inputs.logits as RefTensor);
    const t = labels(c);
    const a = crossEntropy(logits, t).item();
    expect(crossEntropy(logits, Int32Array.from(t)).item()).toBe(a);
    expect(crossEntropy(logits, tensor(t)).item()).toBe(a);
  });

  it('is finite and exact on logits of 1e4 (log-sum-exp), with and without smoothing', () => {
    for (const [name, smoothing] of [['cross_entropy_huge', 0], ['cross_entropy_huge_ls0.1', 0.1]] as const) {
      const c = lossCase(name);
      const logits = input(c, 'logits');
      const loss = crossEntropy(logits, labels(c), { labelSmoothing: smoothing });
      expect(Number.isFinite(loss.item())).toBe(true);
      expectValue(loss, c, name);
      loss.backward();
      expect(logits.grad!.data.every(Number.isFinite)).toBe(true);
      expectClose(logits.grad, c.grads.logits!, { atol: 1e-6, what: `${name} gradient` });
    }
  });

  it('names bad targets and shapes', () => {
    const logits = tensor([[1, 2, 3]]);
    expect(() => crossEntropy(logits, [3])).toThrow(/crossEntropy: target 3 at position 0 is not a class in \[0, 3\)/);
    expect(() => crossEntropy(logits, [0, 1])).toThrow(/crossEntropy: 2 targets for a batch of 1/);
    expect(() => crossEntropy(tensor([1, 2, 3]), [0])).toThrow(/crossEntropy: logits must be \[batch, classes\], got \[3\]/);
  });
});

describe('softDistillationLoss', () => {
  for (const name of ['soft_distillation_T1', 'soft_distillation_T3']) {
    it(`${name}: matches kl_div(log_softmax(s/T), log_softmax(t/T), batchmean, log_target) * T^2`, () => {
      const c = lossCase(name);
      const student = input(c, 'student');
      const teacher = input(c, 'teacher');
      const loss = softDistillationLoss(student, teacher, c.temperature);
      expectValue(loss, c, name);
      loss.backward();
      expectClose(student.grad, c.grads.student!, { atol: 1e-6, what: `${name} student gradient` });
      expect(teacher.grad, 'the teacher is detached').toBeNull();
    });
  }

  it('is finite on logits of 1e4 and matches torch', () => {
    const c = lossCase('soft_distillation_huge_T3');
    const student = input(c, 'student');
    const loss = softDistillationLoss(student, toTensor(c.inputs.teacher as RefTensor), 3);
    expect(Number.isFinite(loss.item())).toBe(true);
    expectValue(loss, c, 'huge soft distillation');
    loss.backward();
    expectClose(student.grad, c.grads.student!, { atol: 1e-5, what: 'huge soft distillation gradient' });
  });

  it('is zero when student and teacher agree, and batchmean divides by the batch only', () => {
    const s = tensor([[1, 2, 3], [0, 0, 5]]);
    expect(softDistillationLoss(s, s, 2).item()).toBeCloseTo(0, 6);
    // klDivLogits on a batch of 2 is the sum of the two rows' KL divided by 2, not by 6 logits.
    const logQ = tensor([[-1, -2], [-0.5, -1.2]]).logSoftmax(-1);
    const logP = tensor([[-2, -0.1], [-1, -1]]).logSoftmax(-1);
    let kl = 0;
    for (let i = 0; i < 4; i++) kl += Math.exp(logP.data[i]!) * (logP.data[i]! - logQ.data[i]!);
    expect(klDivLogits(logQ, logP).item()).toBeCloseTo(kl / 2, 6);
  });

  it('names mismatched shapes', () => {
    expect(() => softDistillationLoss(tensor([[1, 2]]), tensor([[1, 2, 3]]))).toThrow(/softDistillationLoss: student \[1,2\] vs teacher \[1,3\]/);
  });
});

describe('hardDistillationLoss', () => {
  it("is cross entropy against the teacher's argmax: value and gradient match torch", () => {
    const c = lossCase('hard_distillation');
    const student = input(c, 'student');
    const teacher = input(c, 'teacher');
    const loss = hardDistillationLoss(student, teacher);
    expectValue(loss, c, 'hard distillation');
    loss.backward();
    expectClose(student.grad, c.grads.student!, { atol: 1e-7, what: 'hard distillation gradient' });
    expect(teacher.grad, 'the teacher is detached').toBeNull();
  });
});

describe('mseLoss', () => {
  it('matches F.mse_loss: value and gradients for both arguments', () => {
    const c = lossCase('mse');
    const a = input(c, 'input');
    const b = input(c, 'target');
    const loss = mseLoss(a, b);
    expectValue(loss, c, 'mse');
    loss.backward();
    expectClose(a.grad, c.grads.input!, { atol: 1e-7, what: 'mse input gradient' });
    expectClose(b.grad, c.grads.target!, { atol: 1e-7, what: 'mse target gradient' });
  });

  it('names mismatched sizes', () => {
    expect(() => mseLoss(tensor([1, 2]), tensor([1, 2, 3]))).toThrow(/mseLoss: shapes \[2\] and \[3\] differ/);
  });
});

describe('accuracy', () => {
  it('is the fraction of rows whose argmax is the target', () => {
    const logits = tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]);
    expect(accuracy(logits, [1, 0, 0, 1])).toBe(0.5);
    expect(accuracy(logits, tensor([1, 0, 1, 0]))).toBe(1);
  });
});
