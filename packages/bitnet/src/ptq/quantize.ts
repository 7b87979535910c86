// quantizePTQ: post-training quantization of a trained float model, in place. Every Linear whose
// dotted name passes the include/exclude globs becomes a QuantizedLinear; everything else
// (embeddings, norms, excluded layers) is left exactly as it was.
//
// Weight-only methods (absmean, twn, the -refit variants, two-plane) need no data and do every
// layer at once. Methods that need calibration data ('gptq', and static activation scales) go
// layer group by layer group in forward order, re-running the calibration set through the
// partly quantized model each time, so every layer is fitted to the inputs it will really see
// (the earlier layers' quantization errors included), as GPTQ does.
import { Tensor } from '@bitvit/tensor';
import type { Linear, Module } from '@bitvit/nn';
import { replaceLinears } from '../convert.js';
import { selectByName } from '../glob.js';
import { defaultForward, forwardGroups, inEvalMode, linearNames, type ForwardFn } from './calibration.js';
import { GRID_METHODS, fitTernary, type GridMethod, type PTQMethod } from './fit.js';
import { HessianAccumulator, gptqTernary, refitScalesToOutputs, type GptqOptions } from './gptq.js';
import { QuantizedLinear, staticScaleFromAbsmax, type ActivationMode } from './quantized-linear.js';
import { bitsPerWeight, dequantize, relativeError, zeroShare, type Granularity, type TernaryWeights } from './ternary-weights.js';

export interface PTQOptions {
  method: PTQMethod;
  /** Scales per tensor (default) or per output channel. */
  granularity?: Granularity;
  /** false: a per-output-channel zero point beta (asymmetric levels); default true. */
  symmetric?: boolean;
  /** Globs on module names (glob.ts); empty or absent: every Linear. */
  include?: string[];
  /** Globs on module names to keep float. */
  exclude?: string[];
  /** 8-bit activations: per-token absmax ('dynamic', the default), one calibrated scale per layer ('static'), or float ('none'). */
  activations?: ActivationMode;
  /** Input batches for the model; needed by 'static' activations and by 'gptq'. */
  calibration?: Tensor[];
  /** How to run the model on a batch; default model.forward(x). */
  forward?: ForwardFn;
  /** GPTQ settings, and two of ours: the weight-only method that fixes the grid first (default 'twn-refit'),
   *  and whether to refit the scales to the calibration outputs after choosing the codes (default true). */
  gptq?: GptqOptions & { grid?: GridMethod; refitScales?: boolean };
}

export interface PTQLayerReport {
  name: string;
  method: string;
  /** ||W - Wq|| / ||W||, Frobenius. */
  weightRelError: number;
  /** Share of zero codes (of the first plane). */
  zeroShare: number;
  /** log2(3) per plane plus the float32 scales and zero points per weight. */
  bits: number;
}

export interface PTQReport {
  layers: PTQLayerReport[];
  /** The options with defaults filled in, without calibration data or forward (so it serializes). */
  options: PTQOptions;
}

const METHODS: readonly PTQMethod[] = [...GRID_METHODS, 'gptq', 'two-plane'];

interface Resolved {
  method: PTQMethod;
  granularity: Granularity;
  symmetric: boolean;
  include: string[];
  exclude: string[];
  activations: ActivationMode;
  calibration: Tensor[];
  forward: ForwardFn;
  gptq: Required<GptqOptions> & { grid: GridMethod; refitScales: boolean };
}

function resolve(o: PTQOptions): Resolved {
  if (!METHODS.includes(o.method)) throw new Error(`quantizePTQ: unknown method "${String(o.method)}" (known: ${METHODS.join(', ')})`);
  const activations = o.activations ?? 'dynamic';
  if (!['none', 'dynamic', 'static'].includes(activations)) throw new Error(`quantizePTQ: unknown activations "${activations}" (none, dynamic, static)`);
  const calibration = o.calibration ?? [];
  const needs = o.method === 'gptq' ? "method 'gptq'" : activations === 'static' ? "activations 'static'" : null;
  if (needs && calibration.length === 0) throw new Error(`quantizePTQ: ${needs} needs calibration batches (options.calibration is empty)`);
  const grid = o.gptq?.grid ?? 'twn-refit';
  if (!GRID_METHODS.includes(grid)) throw new Error(`quantizePTQ: gptq.grid "${grid}" is not one of ${GRID_METHODS.join(', ')}`);
  return {
    method: o.method,
    granularity: o.granularity ?? 'tensor',
    symmetric: o.symmetric ?? true,
    include: o.include ?? [],
    exclude: o.exclude ?? [],
    activations,
    calibration,
    forward: o.forward ?? defaultForward,
    gptq: { dampening: o.gptq?.dampening ?? 0.01, blockSize: o.gptq?.blockSize ?? 32, actOrder: o.gptq?.actOrder ?? false, grid, refitScales: o.gptq?.refitScales ?? true },
  };
}

/** What one layer's calibration pass gathered: the input Hessian (gptq) and the input absmax (static). */
interface LayerCalibration {
  hessian?: Float64Array;
  absmax?: number;
}

/** The quantized twin of one Linear under the options. */
function quantizeLinear(lin: Linear, name: string, o: Resolved, calib: LayerCalibration): QuantizedLinear {
  const w = lin.weight.data;
  const rows = lin.outFeatures;
  const cols = lin.inFeatures;
  let weights: TernaryWeights;
  if (o.method === 'gptq') {
    const grid = fitTernary(w, rows, cols, o.gptq.grid, o.granularity, o.symmetric);
    try {
      weights = gptqTernary(w, grid, calib.hessian!, o.gptq);
      if (o.gptq.refitScales) weights = refitScalesToOutputs(w, weights, calib.hessian!);
    } catch (e) {
      throw new Error(`quantizePTQ: layer "${name}": ${(e as Error).message}`);
    }
  } else {
    weights = fitTernary(w, rows, cols, o.method, o.granularity, o.symmetric);
  }
  const activationScale = o.activations === 'static' ? staticScaleFromAbsmax(calib.absmax!) : undefined;
  return new QuantizedLinear(weights, lin.bias ? lin.bias.data : null, { method: o.method, activations: o.activations, activationScale });
}

function layerReport(name: string, lin: Linear, q: QuantizedLinear): PTQLayerReport {
  return {
    name,
    method: q.method,
    weightRelError: relativeError(lin.weight.data, dequantize(q.weights)),
    zeroShare: zeroShare(q.weights.planes[0]!.codes),
    bits: bitsPerWeight(q.weights),
  };
}

/**
 * Quantize the model's selected Linears in place and report each layer's weight error, in tree
 * order (weight-only methods) or in forward order (calibrated ones). A Linear shared by several
 * parents is selected when any of its names passes the globs, reported under its first name,
 * and replaced by one QuantizedLinear in every parent. If a calibrated run fails part way (a
 * Hessian that no dampening fixes), the groups before the failing one stay quantized.
 */
export function quantizePTQ(model: Module, options: PTQOptions): PTQReport {
  const o = resolve(options);
  const names = linearNames(model);
  const selected = [...names].filter(([, ns]) => ns.some((n) => selectByName(n, o.include, o.exclude)));
  const firstName = new Map(selected.map(([lin, ns]) => [lin, ns[0]!]));
  const made = new Map<Linear, QuantizedLinear>();

  inEvalMode([model], () => {
    const needsData = o.method === 'gptq' || o.activations === 'static';
    if (!needsData) {
      for (const [lin, name] of firstName) made.set(lin, quantizeLinear(lin, name, o, {}));
      replaceLinears(model, (_n, lin) => made.has(lin), (lin) => made.get(lin)!);
      return;
    }
    const { groups, unused } = forwardGroups(model, [...firstName.keys()], o.calibration[0]!, o.forward);
    if (unused.length) {
      throw new Error(`quantizePTQ: layers ${unused.map((l) => `"${firstName.get(l)}"`).join(', ')} are not called by forward on the calibration data; exclude them or pass options.forward`);
    }
    for (const group of groups) {
      const calib = calibrate(model, group, o);
      for (const lin of group) made.set(lin, quantizeLinear(lin, firstName.get(lin)!, o, calib.get(lin)!));
      const inGroup = new Set(group);
      replaceLinears(model, (_n, lin) => inGroup.has(lin), (lin) => made.get(lin)!);
    }
  });

  const { calibration: _c, forward: _f, ...kept } = o;
  return {
    layers: [...made].map(([lin, q]) => layerReport(firstName.get(lin)!, lin, q)),
    options: { ...kept, gptq: { ...o.gptq } },
  };
}

/** One pass of the calibration set through the (partly quantized) model, watching the group's inputs. */
function calibrate(model: Module, group: readonly Linear[], o: Resolved): Map<Linear, LayerCalibration> {
  const acc = new Map(group.map((lin) => [lin, { hessian: o.method === 'gptq' ? new HessianAccumulator(lin.inFeatures) : null, absmax: 0 }]));
  const handles = group.map((lin) =>
    lin.registerForwardHook((_m, inputs) => {
      const x = inputs[0] as Tensor;
      const a = acc.get(lin)!;
      a.hessian?.add(x);
      for (const v of x.data) if (Math.abs(v) > a.absmax) a.absmax = Math.abs(v);
    }),
  );
  try {
    for (const batch of o.calibration) o.forward(model, batch);
  } finally {
    for (const h of handles.reverse()) h.remove();
  }
  return new Map([...acc].map(([lin, a]) => [lin, { hessian: a.hessian?.hessian(), absmax: a.absmax }]));
}
