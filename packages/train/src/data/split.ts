// Seeded shuffling and the held-out validation split. Randomness comes in as `random`, a function
// returning uniform numbers in [0, 1) (the trainer passes its seeded generator), so the same seed
// gives the same order.
import type { ImageDataset } from './types.js';

/** Shuffles `indices` in place (Fisher-Yates: every order equally likely) and returns it. */
export function shuffleInPlace<T extends Int32Array | number[]>(indices: T, random: () => number): T {
  for (let i = indices.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = indices[i]!;
    indices[i] = indices[j]!;
    indices[j] = t;
  }
  return indices;
}

/** 0..n-1 in a random order. */
export function permutation(n: number, random: () => number): Int32Array {
  const indices = new Int32Array(n);
  for (let i = 0; i < n; i++) indices[i] = i;
  return shuffleInPlace(indices, random);
}

/** A new dataset holding images `indices` of `ds`, in that order (pixels copied). */
export function subset(ds: ImageDataset, indices: Int32Array | number[], source: string): ImageDataset {
  const size = ds.channels * ds.height * ds.width;
  const images = new Uint8Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!(i >= 0 && i < ds.count)) throw new Error(`subset: index ${i} at position ${k} is outside 0..${ds.count - 1} (${ds.source})`);
    images.set(ds.images.subarray(i * size, (i + 1) * size), k * size);
    labels[k] = ds.labels[i]!;
  }
  return { ...ds, images, labels, count: indices.length, source };
}

/**
 * Holds out round(count * valFraction) random images as a validation set; the rest is `train`.
 * Both keep the original order of their images (only the choice is random). Not stratified: with
 * a few hundred images or more per class the class shares come out close to the dataset's.
 */
export function trainValSplit(
  ds: ImageDataset,
  valFraction: number,
  random: () => number,
): { train: ImageDataset; val: ImageDataset } {
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new Error(`trainValSplit: valFraction ${valFraction} is outside [0, 1)`);
  }
  const valCount = Math.round(ds.count * valFraction);
  const order = permutation(ds.count, random);
  const val = order.slice(0, valCount).sort();
  const train = order.slice(valCount).sort();
  return {
    train: subset(ds, train, `${ds.source} minus ${valCount} held out`),
    val: subset(ds, val, `${ds.source} held-out ${valCount}`),
  };
}
