// The training objective: cross entropy (with label smoothing), and DeiT's distillation when a
// teacher is given: the CLS head learns from the labels, the distillation head from the teacher
// (hard: the teacher's argmax; soft: KL at temperature T), averaged as in Touvron et al. 2021.
import { noGrad, type Tensor } from '@bitvit/tensor';
import { crossEntropy, hardDistillationLoss, softDistillationLoss } from '@bitvit/nn';
import { DeiTForImageClassificationWithTeacher, type ImageClassifier } from '@bitvit/vit';

export interface ObjectiveOptions {
  labelSmoothing: number;
  teacher?: ImageClassifier;
  distillation: 'hard' | 'soft';
  temperature: number;
  /** Weight of the distillation term (DeiT: 0.5). */
  distillAlpha: number;
}

export interface StepOutput {
  loss: Tensor;
  /** Logits used for the running training accuracy. */
  logits: Tensor;
}

export function computeLoss(model: ImageClassifier, x: Tensor, labels: Int32Array, o: ObjectiveOptions): StepOutput {
  const ls = { labelSmoothing: o.labelSmoothing };
  if (!o.teacher) {
    if (model instanceof DeiTForImageClassificationWithTeacher) {
      // Without a teacher both DeiT heads learn from the labels.
      const h = model.forwardHeads(x);
      const loss = crossEntropy(h.clsLogits, labels, ls).add(crossEntropy(h.distillationLogits, labels, ls)).mul(0.5);
      return { loss, logits: h.logits };
    }
    const logits = model.forward(x);
    return { loss: crossEntropy(logits, labels, ls), logits };
  }
  const teacherLogits = noGrad(() => o.teacher!.forward(x));
  const heads = model instanceof DeiTForImageClassificationWithTeacher ? model.forwardHeads(x) : null;
  const clsLogits = heads ? heads.clsLogits : model.forward(x);
  const distLogits = heads ? heads.distillationLogits : clsLogits;
  const distill = o.distillation === 'hard' ? hardDistillationLoss(distLogits, teacherLogits) : softDistillationLoss(distLogits, teacherLogits, o.temperature);
  const loss = crossEntropy(clsLogits, labels, ls).mul(1 - o.distillAlpha).add(distill.mul(o.distillAlpha));
  return { loss, logits: heads ? heads.logits : clsLogits };
}
