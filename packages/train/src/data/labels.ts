// Checks shared by the loaders: label ranges and matching counts.

/**
 * Throws unless every label is in 0..numClasses-1. `where(i)` says where label `i` sits in its
 * file (e.g. "byte offset 13"), so the message points at the bad byte.
 */
export function checkLabelRange(
  labels: Int32Array,
  numClasses: number,
  what: string,
  where: (index: number) => string,
): void {
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (label < 0 || label >= numClasses) {
      throw new Error(`${what}: label ${label} at index ${i} (${where(i)}) is outside 0..${numClasses - 1}`);
    }
  }
}

/** The largest label plus one: the class count of a file that does not name its classes. */
export function classCountOf(labels: Int32Array): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) if (labels[i]! > max) max = labels[i]!;
  return max + 1;
}

/** "0", "1", ... for datasets whose classes have no names. */
export function numberedClassNames(numClasses: number): string[] {
  return Array.from({ length: numClasses }, (_, i) => String(i));
}
