// The weight-only methods, one entry point: from a float matrix to ternary planes without data.
// (GPTQ needs the layer's calibration inputs; it is in gptq.ts and starts from one of these.)
import { absmeanTernary } from './absmean.js';
import { centerRows, channelMeans } from './asymmetric.js';
import { refitScales } from './refit.js';
import { twnTernary } from './twn.js';
import { twoPlaneTernary } from './two-plane.js';
import type { Granularity, TernaryWeights } from './ternary-weights.js';

/** A method that picks one plane of codes and its scales from the weights alone. */
export type GridMethod = 'absmean' | 'twn' | 'absmean-refit' | 'twn-refit';
export type PTQMethod = GridMethod | 'gptq' | 'two-plane';

export const GRID_METHODS: readonly GridMethod[] = ['absmean', 'twn', 'absmean-refit', 'twn-refit'];

/**
 * Ternary planes for W [rows, cols] by a weight-only method. Asymmetric (symmetric = false):
 * the codes come from the centered rows W - mean(w_r); beta is the channel mean, or, for the
 * -refit methods, fitted jointly with alpha by least squares.
 */
export function fitTernary(
  w: Float32Array, rows: number, cols: number,
  method: GridMethod | 'two-plane', granularity: Granularity, symmetric: boolean,
): TernaryWeights {
  if (method === 'two-plane') return twoPlaneTernary(w, rows, cols, granularity, symmetric);
  const beta = symmetric ? null : channelMeans(w, rows, cols);
  const target = beta ? centerRows(w, rows, cols, beta) : w;
  const plane = method.startsWith('absmean') ? absmeanTernary(target, rows, cols, granularity) : twnTernary(target, rows, cols, granularity);
  if (!method.endsWith('-refit')) return { rows, cols, granularity, planes: [plane], beta };
  const refit = refitScales(w, rows, cols, [plane], granularity, !symmetric);
  return { rows, cols, granularity, planes: [{ codes: plane.codes, alpha: refit.alphas[0]! }], beta: refit.beta };
}
