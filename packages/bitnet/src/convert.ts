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
 * Visit every (parent, child) edge once and swap the children of class `kind` that `select`
 * picks. A module shared by two parents becomes one shared replacement, so tying survives.
 */
export function replaceModules<S extends Module, T extends Module>(
  model: Module,
  kind: abstract new (...args: never[]) => S,
  select: (name: string, module: S) => boolean,
  make: (module: S, name: string) => T,
): Array<{ name: string; module: T }> {
  const made = new Map<S, T>();
  const replaced: Array<{ name: string; module: T }> = [];
  for (const [prefix, parent] of model.namedModules()) {
    for (const [childName, child] of parent.namedChildren()) {
      if (!(child instanceof kind)) continue;
      const name = prefix ? `${prefix}.${childName}` : childName;
      let r = made.get(child);
      if (!r) {
        if (!select(name, child)) continue;
        r = make(child, name);
        made.set(child, r);
        replaced.push({ name, module: r });
      }
      parent.replaceModule(childName, r);
    }
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
