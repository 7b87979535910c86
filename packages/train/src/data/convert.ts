// Bringing images to the shape a model wants: channel count (gray <-> RGB) and size (resize.ts).
import { resizePlane } from './resize.js';
import type { ImageDataset, ImageShape } from './types.js';

const sameShape = (a: ImageShape, b: ImageShape): boolean =>
  a.channels === b.channels && a.height === b.height && a.width === b.width;

const describe = (s: ImageShape): string => `${s.channels}x${s.height}x${s.width}`;

/** Throws unless `shape` is a usable image shape (1 or 3 channels, positive integer sides). */
export function checkImageShape(shape: ImageShape, what: string): void {
  const { channels, height, width } = shape;
  if (channels !== 1 && channels !== 3) {
    throw new Error(`${what}: ${channels} channels requested, only 1 (grayscale) and 3 (RGB) are supported`);
  }
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new Error(`${what}: image size ${height}x${width} is not a positive whole number of pixels`);
  }
}

/**
 * Copies one C x H x W image from `src` to `dst` with `dst`'s channel count. RGB to gray is the
 * ITU-R 601-2 luma, Y = 0.299 R + 0.587 G + 0.114 B, in Pillow's fixed point (convert('L')):
 * (19595 R + 38470 G + 7471 B + 32768) >> 16. Gray to RGB repeats the plane.
 */
export function convertChannels(src: Uint8Array, srcChannels: number, dst: Uint8Array, dstChannels: number, plane: number): void {
  if (srcChannels === dstChannels) {
    dst.set(src.subarray(0, srcChannels * plane));
  } else if (srcChannels === 3 && dstChannels === 1) {
    for (let p = 0; p < plane; p++) {
      dst[p] = (19595 * src[p]! + 38470 * src[plane + p]! + 7471 * src[2 * plane + p]! + 32768) >>> 16;
    }
  } else if (srcChannels === 1 && dstChannels === 3) {
    const gray = src.subarray(0, plane);
    dst.set(gray, 0);
    dst.set(gray, plane);
    dst.set(gray, 2 * plane);
  } else {
    throw new Error(`convertChannels: cannot convert ${srcChannels} channels to ${dstChannels}`);
  }
}

/**
 * Writes image `src` (shape `from`) into `dst` with shape `to`: each plane resized bilinearly and
 * the channels converted, in the order that resizes fewer planes (RGB to gray converts first,
 * gray to RGB resizes the one gray plane and then repeats it).
 */
export function convertImage(src: Uint8Array, from: ImageShape, dst: Uint8Array, to: ImageShape): void {
  const inPlane = from.height * from.width;
  const outPlane = to.height * to.width;
  if (from.height === to.height && from.width === to.width) {
    convertChannels(src, from.channels, dst, to.channels, outPlane);
    return;
  }
  const resizeChannels = Math.min(from.channels, to.channels);
  let planes = src;
  if (from.channels > to.channels) {
    planes = new Uint8Array(to.channels * inPlane);
    convertChannels(src, from.channels, planes, to.channels, inPlane);
  }
  const resized = from.channels < to.channels ? new Uint8Array(resizeChannels * outPlane) : dst;
  const scratch = new Uint8Array(from.height * to.width);
  for (let c = 0; c < resizeChannels; c++) {
    resizePlane(
      planes.subarray(c * inPlane, (c + 1) * inPlane), from.height, from.width,
      resized.subarray(c * outPlane, (c + 1) * outPlane), to.height, to.width, scratch,
    );
  }
  if (resized !== dst) convertChannels(resized, from.channels, dst, to.channels, outPlane);
}

/** The dataset with every image converted to `shape` (the same object if it already has it). */
export function convertDataset(ds: ImageDataset, shape: ImageShape): ImageDataset {
  checkImageShape(shape, `convertDataset (${ds.source})`);
  const from: ImageShape = { channels: ds.channels, height: ds.height, width: ds.width };
  if (sameShape(from, shape)) return ds;
  const inSize = from.channels * from.height * from.width;
  const outSize = shape.channels * shape.height * shape.width;
  const images = new Uint8Array(ds.count * outSize);
  for (let i = 0; i < ds.count; i++) {
    convertImage(ds.images.subarray(i * inSize, (i + 1) * inSize), from, images.subarray(i * outSize, (i + 1) * outSize), shape);
  }
  return {
    ...ds, images, channels: shape.channels, height: shape.height, width: shape.width,
    source: `${ds.source} (${describe(from)} -> ${describe(shape)})`,
  };
}
