// Running a model on calibration data: eval mode without gradients, the Linears it calls and in
// which order, and which of them read the same input (they can be quantized together).
import { noGrad, Tensor } from '@bitvit/tensor';
import { Linear, type Module } from '@bitvit/nn';

/** How to run a model on one batch; the default calls model.forward(x). */
export type ForwardFn = (model: Module, x: Tensor) => Tensor;

export const defaultForward: ForwardFn = (model, x) => {
  const f = (model as unknown as { forward?: (x: Tensor) => unknown }).forward;
  if (typeof f !== 'function') throw new Error(`forward: ${model.typeName} has no forward(x); pass options.forward`);
  const y = f.call(model, x);
  if (!(y instanceof Tensor)) throw new Error(`forward: ${model.typeName}.forward(x) did not return a Tensor; pass options.forward`);
  return y;
};

/**
 * Run fn with every module of the given models in eval mode and gradients off, then restore
 * each module's own training flag (a model may have been half in eval on purpose).
 */
export function inEvalMode<T>(models: readonly Module[], fn: () => T): T {
  const saved = models.flatMap((m) => m.modules().map((mod) => [mod, mod.training] as const));
  for (const m of models) m.eval();
  try {
    return noGrad(fn);
  } finally {
    for (const [mod, mode] of saved) mod.training = mode;
  }
}

/**
 * Every Linear of the tree with all the dotted names it is reachable by (a shared one has
 * several), in the order namedModules() lists them (depth first, children in registration order).
 */
export function linearNames(model: Module): Map<Linear, string[]> {
  const names = new Map<Linear, string[]>();
  for (const [, m] of model.namedModules()) if (m instanceof Linear) names.set(m, []);
  for (const [prefix, parent] of model.namedModules()) {
    for (const [childName, child] of parent.namedChildren()) {
      if (child instanceof Linear) names.get(child)!.push(prefix ? `${prefix}.${childName}` : childName);
    }
  }
  return names;
}

/**
 * The given layers in the order the model first calls them on x, grouped: consecutive layers
 * that read the very same input tensor (attention's query, key and value) form one group,
 * because quantizing one of them cannot change what the others see. Layers the forward never
 * calls come back in `unused`.
 */
export function forwardGroups<M extends Module>(model: Module, layers: readonly M[], x: Tensor, forward: ForwardFn): { groups: M[][]; unused: M[] } {
  const calls: Array<{ layer: M; input: unknown }> = [];
  const handles = layers.map((layer) => layer.registerForwardHook((_m, inputs) => calls.push({ layer, input: inputs[0] })));
  try {
    forward(model, x);
  } finally {
    for (const h of handles.reverse()) h.remove();
  }
  const groups: M[][] = [];
  const seen = new Set<M>();
  let groupInput: unknown = undefined;
  for (const { layer, input } of calls) {
    if (seen.has(layer)) continue;
    seen.add(layer);
    const last = groups[groups.length - 1];
    if (last && input === groupInput) last.push(layer);
    else {
      groups.push([layer]);
      groupInput = input;
    }
  }
  return { groups, unused: layers.filter((l) => !seen.has(l)) };
}
