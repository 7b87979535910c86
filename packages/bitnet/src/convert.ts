// Turning a float model into a BitNet one, the way the study did: replace each Linear (by
// dotted-name globs) with a BitLinear holding the same weights; the rest of the model - the
// patch embedding, norms, embeddings - stays float and is not touched.
import { Linear, type Module } from '@bitvit/nn';
import { BitLinear, type BitLinearOptions } from './bitlinear.js';
import { selectByName } from './glob.js';

export interface ConvertOptions extends Omit<BitLinearOptions, 'bias' | 'generator'> {
  /** Globs of module names to convert; empty (the default) means every Linear (ViT: encoder and classifier). */
  include?: string[];
  /** Globs of module names to keep float, e.g. ['classifier'] to keep the head in high precision. */
  exclude?: string[];
}

export interface ReplacedModule {
  name: string;
  module: BitLinear;
}

/**
 * Swap the modules of class `kind` that `select` picks, in every parent that holds them. A module
 * shared by several parents is picked when `select` accepts any of its dotted names, becomes one
 * shared replacement in all of them (tying survives), and is made and listed under its first name,
 * the one namedModules() and the state dict use. The list follows that order.
 */
export function replaceModules<S extends Module, T extends Module>(
  model: Module,
  kind: abstract new (...args: never[]) => S,
  select: (name: string, module: S) => boolean,
  make: (module: S, name: string) => T,
): Array<{ name: string; module: T }> {
  // Every (parent, child) edge first: deciding edge by edge would leave a shared module float in
  // the parents visited before the one whose name is selected.
  const edges: Array<{ parent: Module; childName: string; child: S }> = [];
  const names = new Map<S, string[]>();
  for (const [prefix, parent] of model.namedModules()) {
    for (const [childName, child] of parent.namedChildren()) {
      if (!(child instanceof kind)) continue;
      edges.push({ parent, childName, child });
      const name = prefix ? `${prefix}.${childName}` : childName;
      names.set(child, [...(names.get(child) ?? []), name]);
    }
  }
  const made = new Map<S, T>();
  const replaced: Array<{ name: string; module: T }> = [];
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof kind) || made.has(m) || !names.get(m)?.some((n) => select(n, m))) continue;
    const r = make(m, name);
    made.set(m, r);
    replaced.push({ name, module: r });
  }
  for (const { parent, childName, child } of edges) {
    const r = made.get(child);
    if (r) parent.replaceModule(childName, r);
  }
  return replaced;
}

/** replaceModules for nn Linear layers. */
export function replaceLinears<T extends Module>(
  model: Module,
  select: (name: string, lin: Linear) => boolean,
  make: (lin: Linear, name: string) => T,
): Array<{ name: string; module: T }> {
  return replaceModules(model, Linear, select, make);
}

/** Replace the model's Linears with BitLinears in place; returns what was replaced, by name. */
export function convertToBitNet(model: Module, opts: ConvertOptions = {}): ReplacedModule[] {
  const { include = [], exclude = [], ...layerOpts } = opts;
  const wasTraining = model.training;
  const out = replaceLinears(model, (name) => selectByName(name, include, exclude), (lin) => BitLinear.fromLinear(lin, layerOpts));
  model.train(wasTraining);
  return out;
}

/** The BitLinear layers of a model with their names. */
export function bitLinears(model: Module): ReplacedModule[] {
  return model.namedModules().flatMap(([name, m]) => (m instanceof BitLinear ? [{ name, module: m }] : []));
}
