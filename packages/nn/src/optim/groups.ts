// Parameter groups with and without weight decay, the way timm builds them: biases, norm
// weights (every 1-D parameter) and the token/position embeddings are not decayed.
import type { Module, Parameter } from '../module.js';
import type { GroupSpec } from './optimizer.js';

/** Names that are never decayed (timm's no_weight_decay lists, in Hugging Face and timm spellings). */
export const NO_DECAY_NAMES = /(^|\.)(position_embeddings|cls_token|distillation_token|pos_embed|dist_token|mask_token)$/;

export function isNoDecay(name: string, p: Parameter): boolean {
  return p.ndim <= 1 || name.endsWith('.bias') || NO_DECAY_NAMES.test(name);
}

/** Two groups: [decayed, not decayed]; the second has weightDecay 0. */
export function paramGroupsWithDecay(model: Module, weightDecay: number, opts: { noDecay?: (name: string, p: Parameter) => boolean } = {}): GroupSpec[] {
  const skip = opts.noDecay ?? isNoDecay;
  const decay: Parameter[] = [];
  const noDecay: Parameter[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (!p.requiresGrad) continue;
    (skip(name, p) ? noDecay : decay).push(p);
  }
  return [
    { params: decay, weightDecay },
    { params: noDecay, weightDecay: 0 },
  ];
}
