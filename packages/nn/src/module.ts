// Module: the PyTorch-style container of parameters and child modules, with dotted names,
// state dicts, train/eval mode, replacement by name and a printed tree.
import { Tensor, keep, shapeStr } from '@bitvit/tensor';

/** A trainable tensor: a leaf with requiresGrad set. */
export class Parameter extends Tensor {
  constructor(data: Float32Array, shape: readonly number[]) {
    super(data, shape);
    this.requiresGrad = true;
    keep(this); // a model built inside a tidy() keeps its weights (as tf.variable)
  }

  static from(t: Tensor): Parameter {
    return new Parameter(Float32Array.from(t.data), t.shape);
  }
}

export type StateDict = Map<string, Tensor>;

/** A float as Python's repr prints it (1e-05, 0.0, 0.1), so printed trees read like PyTorch's. */
export function pyFloat(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return x.toFixed(1);
  if (x !== 0 && Math.abs(x) < 1e-4) return x.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return String(x);
}

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export interface HookHandle {
  remove(): void;
}

export type ForwardHook = (module: Module, inputs: readonly unknown[], output: unknown) => void;

export abstract class Module {
  /** True in training mode (dropout active); eval() sets it false for the whole tree. */
  training = true;
  protected readonly params = new Map<string, Parameter | null>();
  protected readonly buffers = new Map<string, Tensor>();
  protected readonly children = new Map<string, Module>();

  /** Register a parameter; the field of the same name should hold it. */
  protected addParameter<P extends Parameter | null>(name: string, p: P): P {
    this.params.set(name, p);
    return p;
  }

  /** Register a non-trainable tensor that belongs in the state dict (running stats, masks). */
  protected addBuffer(name: string, t: Tensor): Tensor {
    keep(t); // module state outlives a tidy() it was made in
    this.buffers.set(name, t);
    return t;
  }

  /** Register a child module; the field of the same name should hold it (replaceModule relies on that). */
  protected addModule<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** The class name printed in the tree; subclasses named after Hugging Face classes override nothing. */
  get typeName(): string {
    return this.constructor.name;
  }

  /** Extra text inside the parentheses of this module's line, e.g. "192, eps=1e-12". */
  extraRepr(): string {
    return '';
  }

  namedChildren(): Array<[string, Module]> {
    return [...this.children.entries()];
  }

  /** Every module in the tree with its dotted name ('' for this one); a shared module appears once. */
  namedModules(prefix = '', seen = new Set<Module>()): Array<[string, Module]> {
    if (seen.has(this)) return [];
    seen.add(this);
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.children) {
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name, seen));
    }
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Parameters with dotted names, e.g. `encoder.layer.0.attention.attention.query.weight`; shared ones appear once. */
  namedParameters(): Array<[string, Parameter]> {
    const out: Array<[string, Parameter]> = [];
    const seen = new Set<Parameter>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, p] of m.params) {
        if (p === null || seen.has(p)) continue;
        seen.add(p);
        out.push([prefix ? `${prefix}.${name}` : name, p]);
      }
    }
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, b] of m.buffers) out.push([prefix ? `${prefix}.${name}` : name, b]);
    }
    return out;
  }

  /** Number of parameter values (trainable only, or all). */
  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((p) => !opts.trainableOnly || p.requiresGrad)
      .reduce((n, p) => n + p.size, 0);
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Call fn on every module of the tree (children first, as PyTorch's apply). */
  apply(fn: (m: Module) => void): this {
    for (const [, child] of this.children) child.apply(fn);
    fn(this);
    return this;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Parameters and buffers by dotted name; the tensors are the live ones (copy to snapshot). */
  stateDict(): StateDict {
    return new Map<string, Tensor>([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copy values from a state dict into this model's tensors. Shapes must match. With strict
   * (the default) missing and unexpected keys are an error listing them by name.
   */
  loadStateDict(sd: StateDict | Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const given = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !given.has(k));
    const unexpectedKeys = [...given.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, t] of own) {
      const src = given.get(k);
      if (src && (src.size !== t.size || src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i]))) {
        mismatched.push(`${k}: checkpoint ${shapeStr(src.shape)} vs model ${shapeStr(t.shape)}`);
      }
    }
    const problems: string[] = [];
    if (mismatched.length) problems.push(`shape mismatch for ${mismatched.join('; ')}`);
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    if (problems.length) throw new Error(`loadStateDict: ${problems.join('. ')}`);
    for (const [k, t] of own) {
      const src = given.get(k);
      if (src) {
        t.data.set(src.data);
        t.markChanged();
      }
    }
    return { missingKeys, unexpectedKeys };
  }

  /** The module at a dotted path ('' is this module). */
  getModule(path: string): Module {
    if (path === '') return this;
    let m: Module = this;
    for (const part of path.split('.')) {
      const next = m.children.get(part);
      if (!next) throw new Error(`getModule: no submodule "${part}" in "${path}" (children: ${[...m.children.keys()].join(', ') || 'none'})`);
      m = next;
    }
    return m;
  }

  /** Swap the child at a dotted path for another module (how Linear becomes BitLinear). Returns the old one. */
  replaceModule(path: string, replacement: Module): Module {
    const cut = path.lastIndexOf('.');
    const parent = this.getModule(cut < 0 ? '' : path.slice(0, cut));
    const name = path.slice(cut + 1);
    const old = parent.children.get(name);
    if (!old) throw new Error(`replaceModule: no submodule at "${path}"`);
    parent.setChild(name, replacement);
    return old;
  }

  /** Replace a registered child and the field that holds it. */
  protected setChild(name: string, m: Module): void {
    this.children.set(name, m);
    const self = this as unknown as Record<string, unknown>;
    if (name in self) self[name] = m;
  }

  /**
   * Call hook(module, inputs, output) after every forward of this module (for activations
   * statistics and per-layer error). Returns a handle whose remove() undoes it.
   */
  registerForwardHook(hook: ForwardHook): HookHandle {
    const self = this as unknown as { forward: (...args: unknown[]) => unknown };
    const inner = self.forward;
    const wrapped = (...args: unknown[]): unknown => {
      const out = inner.apply(this, args);
      hook(this, args, out);
      return out;
    };
    self.forward = wrapped;
    return {
      remove: () => {
        if (self.forward === wrapped) self.forward = inner;
        else throw new Error('registerForwardHook: hooks must be removed in reverse order of registration');
      },
    };
  }

  /**
   * The tree as PyTorch prints it: `Name(\n  (child): Child(...)\n)`. As torch's Module.__repr__,
   * a single extra line with no children stays inside the parentheses, `Linear(in_features=...)`;
   * otherwise the extra lines come first, each on its own indented line, then the children.
   */
  toString(): string {
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split('\n') : [];
    const childLines = this.children.size > 0 ? this.childLines() : [];
    if (childLines.length === 0 && extraLines.length <= 1) return `${this.typeName}(${extra})`;
    const lines = [...extraLines, ...childLines].map((l) => `  ${l.replace(/\n/g, '\n  ')}`);
    return `${this.typeName}(\n${lines.join('\n')}\n)`;
  }

  protected childLines(): string[] {
    return [...this.children].map(([name, child]) => `(${name}): ${child.toString()}`);
  }
}

/** Children run one after another. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.addModule(String(i), l));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const l of this.layers) h = (l as unknown as { forward(t: Tensor): Tensor }).forward(h);
    return h;
  }

  protected override setChild(name: string, m: Module): void {
    super.setChild(name, m);
    this.layers[Number(name)] = m;
  }
}

/** A list of modules, named 0, 1, ... (printed as PyTorch does, repeats folded). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];

  constructor(items: M[] = []) {
    super();
    for (const m of items) this.push(m);
  }

  push(m: M): void {
    this.addModule(String(this.items.length), m);
    this.items.push(m);
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new Error(`ModuleList: index ${i} out of range (length ${this.items.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  protected override setChild(name: string, m: Module): void {
    super.setChild(name, m);
    this.items[Number(name)] = m as M;
  }

  // PyTorch folds identical consecutive children: "(0-11): 12 x ViTLayer(...)".
  protected override childLines(): string[] {
    const lines: string[] = [];
    let i = 0;
    while (i < this.items.length) {
      const text = this.items[i]!.toString();
      let j = i + 1;
      while (j < this.items.length && this.items[j]!.toString() === text) j++;
      lines.push(j - i > 1 ? `(${i}-${j - 1}): ${j - i} x ${text}` : `(${i}): ${text}`);
      i = j;
    }
    return lines;
  }
}
