// The `--data` argument: which dataset to load, as one string.
import { loadCifar10 } from './cifar10.js';
import { convertDataset } from './convert.js';
import { loadImageFolder } from './folder.js';
import { loadIdxDir, loadMnist } from './idx.js';
import type { DatasetSplits, ImageShape } from './types.js';

export type DataSpec =
  | { kind: 'mnist' }
  | { kind: 'idx' | 'cifar10' | 'folder'; dir: string };

const FORMS = "'mnist' (the default), 'idx:<dir>', 'cifar10:<dir>' or 'folder:<dir>'";

/** Parses `mnist`, `idx:<dir>`, `cifar10:<dir>` or `folder:<dir>` (only the first ":" splits). */
export function parseDataSpec(spec: string): DataSpec {
  if (spec === 'mnist') return { kind: 'mnist' };
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  if (kind === 'idx' || kind === 'cifar10' || kind === 'folder') {
    const dir = colon < 0 ? '' : spec.slice(colon + 1);
    if (dir === '') throw new Error(`data spec '${spec}': '${kind}' needs a folder, as in '${kind}:<dir>'`);
    return { kind, dir };
  }
  throw new Error(`data spec '${spec}': unknown dataset '${kind}'; expected ${FORMS}`);
}

export interface LoadDatasetOptions {
  /**
   * The model's input shape. Images of another shape are converted (channels) and resized
   * (bilinear) to it; without it, every format keeps its own shape (folder: the first image's).
   */
  imageSize?: ImageShape;
}

/** Loads the train and test splits named by a `--data` spec (see parseDataSpec). */
export async function loadDataset(spec: string, options: LoadDatasetOptions = {}): Promise<DatasetSplits> {
  const parsed = parseDataSpec(spec);
  const { imageSize } = options;
  let splits: DatasetSplits;
  switch (parsed.kind) {
    case 'mnist':
      splits = await loadMnist();
      break;
    case 'idx':
      splits = await loadIdxDir(parsed.dir);
      break;
    case 'cifar10':
      splits = await loadCifar10(parsed.dir);
      break;
    case 'folder':
      // The folder loader resizes while decoding: no second copy.
      return loadImageFolder(parsed.dir, imageSize);
  }
  if (!imageSize) return splits;
  return { train: convertDataset(splits.train, imageSize), test: convertDataset(splits.test, imageSize) };
}
