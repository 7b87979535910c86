// Folders of PNG images, one subfolder per class, as torchvision's ImageFolder reads them:
//
//   <dir>/train/<class>/*.png
//   <dir>/test/<class>/*.png
//
// Class ids are the class folder names in sorted order; train/ and test/ must hold the same
// classes. Hidden entries (names starting with ".") are skipped; any other file must be a PNG
// (checked by its signature, whatever its name).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkImageShape, convertImage } from './convert.js';
import { exists, listVisible } from './files.js';
import { decodePngImage } from './png.js';
import type { DatasetSplits, ImageDataset, ImageShape } from './types.js';

interface SplitListing {
  classes: string[];
  /** For each class, the paths of its images, sorted by name. */
  files: string[][];
}

async function listSplit(splitDir: string, requireImages: boolean): Promise<SplitListing> {
  if (!(await exists(splitDir))) throw new Error(`folder: missing ${splitDir} (expected train/ and test/ with one subfolder per class)`);
  const classes: string[] = [];
  const files: string[][] = [];
  for (const entry of await listVisible(splitDir, 'folder')) {
    if (!entry.isDir) {
      throw new Error(`folder: ${join(splitDir, entry.name)}: a file where only class folders belong`);
    }
    const classDir = join(splitDir, entry.name);
    const images: string[] = [];
    for (const file of await listVisible(classDir, 'folder')) {
      if (file.isDir) throw new Error(`folder: ${join(classDir, file.name)}: a folder inside a class folder (expected only PNG files)`);
      images.push(join(classDir, file.name));
    }
    if (requireImages && images.length === 0) throw new Error(`folder: ${classDir}: class folder holds no images`);
    classes.push(entry.name);
    files.push(images);
  }
  if (classes.length === 0) throw new Error(`folder: ${splitDir} holds no class folders`);
  return { classes, files };
}

/**
 * Loads `<dir>/train` and `<dir>/test`. Every image is decoded (png.ts: 8/16-bit, grayscale,
 * grayscale+alpha, RGB, RGBA, palette; alpha composited on black), converted to
 * `imageSize.channels` (RGB to gray by luma, gray to RGB by repetition) and resized to
 * `imageSize.height x imageSize.width` (bilinear, area-averaging when shrinking; see resize.ts).
 * Without `imageSize`, the first training image (first class, first file) sets the shape: its
 * height and width, and 1 channel if it is grayscale, else 3.
 */
export async function loadImageFolder(dir: string, imageSize?: ImageShape): Promise<DatasetSplits> {
  const train = await listSplit(join(dir, 'train'), true);
  const test = await listSplit(join(dir, 'test'), false);
  const onlyTrain = train.classes.filter((c) => !test.classes.includes(c));
  const onlyTest = test.classes.filter((c) => !train.classes.includes(c));
  if (onlyTrain.length > 0 || onlyTest.length > 0) {
    throw new Error(
      `folder: ${dir}: class folders differ between train/ and test/: ` +
        `only in train/: [${onlyTrain.join(', ')}], only in test/: [${onlyTest.join(', ')}]`,
    );
  }

  let shape = imageSize;
  if (shape) checkImageShape(shape, `folder: ${dir}`);
  const load = async (listing: SplitListing, split: string): Promise<ImageDataset> => {
    const count = listing.files.reduce((n, f) => n + f.length, 0);
    const labels = new Int32Array(count);
    let images = new Uint8Array(0);
    let at = 0;
    for (let label = 0; label < listing.files.length; label++) {
      for (const path of listing.files[label]!) {
        const decoded = decodePngImage(await readFile(path), path);
        shape ??= { channels: decoded.channels, height: decoded.height, width: decoded.width };
        const size = shape.channels * shape.height * shape.width;
        if (images.length === 0) images = new Uint8Array(count * size);
        convertImage(decoded.pixels, decoded, images.subarray(at * size, (at + 1) * size), shape);
        labels[at++] = label;
      }
    }
    const { channels, height, width } = shape ?? { channels: 1, height: 1, width: 1 };
    return {
      images, labels, count, channels, height, width,
      numClasses: listing.classes.length, classNames: listing.classes, source: `folder:${dir} ${split}`,
    };
  };
  return { train: await load(train, 'train'), test: await load(test, 'test') };
}
