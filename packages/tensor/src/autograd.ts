// Define-by-run autograd: each op's result remembers its inputs and a backward closure;
// backward() walks the graph in reverse topological order, without recursion.
import type { Tensor } from './tensor.js';
import { sameShape } from './shape.js';
import { add } from './ops/elementwise.js';
import { onesLike } from './creation.js';
import { kernels } from './kernels/index.js';

/** How a tensor was made: the op's name, its inputs, and the map from the output's gradient to theirs. */
export interface GraphNode {
  op: string;
  inputs: readonly Tensor[];
  /** Gradients for each input, in order; null for an input that needs none. */
  backward: (grad: Tensor) => ReadonlyArray<Tensor | null>;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn without recording a graph (inference, optimizer steps, backward itself). */
export function noGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

/**
 * Attach the graph node to an op's output when any input needs a gradient.
 * Every differentiable op ends with `return record(out, [inputs], (g) => [grads])`.
 */
export function record(op: string, out: Tensor, inputs: readonly Tensor[], backward: GraphNode['backward']): Tensor {
  if (!gradEnabled) return out;
  let needed = false;
  for (const t of inputs) if (t.requiresGrad) needed = true;
  if (!needed) return out;
  out.requiresGrad = true;
  out.node = { op, inputs, backward };
  return out;
}

/** Reverse topological order of the graph above `root` (an explicit stack: deep models would overflow recursion). */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: Array<[Tensor, number]> = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, next] = top;
    const inputs = t.node ? t.node.inputs : [];
    if (next < inputs.length) {
      top[1] = next + 1;
      const child = inputs[next]!;
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t); // post-order: every input comes before the tensors made from it
    }
  }
  return order.reverse();
}

/** What a node becomes once backward() has used it: its saved tensors are released. */
function freedNode(op: string): GraphNode {
  return {
    op,
    inputs: [],
    backward: () => {
      throw new Error(`backward: the graph through ${op} was already freed by an earlier backward() call`);
    },
  };
}

/**
 * Backpropagate from `root`. A non-scalar root needs a seed gradient of its shape.
 * Leaf tensors with requiresGrad accumulate into `.grad` (as PyTorch does); the graph is freed after.
 */
export function backward(root: Tensor, seed?: Tensor): void {
  if (!root.requiresGrad) {
    throw new Error('backward: tensor does not require grad (no parameter or requiresGrad input reaches it)');
  }
  if (seed === undefined) {
    if (root.size !== 1) {
      throw new Error(`backward: a seed gradient is needed for a non-scalar tensor of shape [${root.shape.join(',')}]`);
    }
    seed = onesLike(root);
  } else if (!sameShape(seed.shape, root.shape)) {
    throw new Error(`backward: seed shape [${seed.shape.join(',')}] differs from tensor shape [${root.shape.join(',')}]`);
  }
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  // Gradients may share storage (add hands one g to both inputs, reshape's backward is a view),
  // so a leaf whose gradient is already held by another leaf, or is the caller's seed, gets a
  // copy: optimizers and clipping may then change a .grad in place without touching another.
  const storageOf = (t: Tensor): unknown => t.deviceStorage ?? t.data;
  const handedOut = new Set<unknown>([storageOf(seed)]);
  noGrad(() => {
    for (const t of order) {
      const g = grads.get(t);
      if (g === undefined) continue;
      grads.delete(t); // intermediate gradients are not kept (no retain_grad)
      const node = t.node;
      if (node === null) {
        if (t.grad !== null) t.grad = add(t.grad, g); // a leaf: accumulate, as PyTorch does
        else t.grad = handedOut.has(storageOf(g)) ? kernels().expand(g, g.shape) : g; // expand to its own shape: a copy
        handedOut.add(storageOf(t.grad));
        continue;
      }
      const inputGrads = node.backward(g);
      node.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (!input.requiresGrad || gi === null || gi === undefined) return;
        const prev = grads.get(input);
        grads.set(input, prev === undefined ? gi : add(prev, gi));
      });
      t.node = freedNode(node.op);
    }
  });
}
