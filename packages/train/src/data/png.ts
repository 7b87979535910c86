// PNG files to 8-bit C x H x W pixels (C = 1 for grayscale, 3 for colour), decoded by fast-png.
//
// Conversions, so that every PNG a user may have ends up as plain bytes:
// - 16-bit samples become 8-bit as round(v * 255 / 65535); 1-, 2- and 4-bit grayscale is scaled up
//   the same way (v * 255 / (2^depth - 1)), so a 1-bit white pixel is 255.
// - Alpha is composited on black: c8 = round(255 * c * a / max^2). Transparent pixels become 0, which is
//   what a digit drawn on a transparent background should look like.
// - Palette images (any bit depth, with or without tRNS transparency) become RGB.
// Grayscale and RGB transparency keys (tRNS without a palette) are ignored.
import { decode, hasPngSignature } from 'fast-png';
import type { DecodedPng } from 'fast-png';

export interface DecodedImage {
  /** C x H x W bytes. */
  pixels: Uint8Array;
  /** 1 (grayscale, with or without alpha) or 3 (RGB, RGBA, palette). */
  channels: 1 | 3;
  height: number;
  width: number;
}

const hexBytes = (bytes: Uint8Array, n: number): string =>
  Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(' ');

/** Decodes one PNG file's bytes. `file` names it in errors. */
export function decodePngImage(bytes: Uint8Array, file: string): DecodedImage {
  if (!hasPngSignature(bytes)) {
    throw new Error(
      `png: ${file}: not a PNG file (starts with ${hexBytes(bytes, 8) || 'nothing, the file is empty'}, ` +
        `a PNG starts with 89 50 4e 47 0d 0a 1a 0a)`,
    );
  }
  let png: DecodedPng;
  try {
    png = decode(bytes);
  } catch (e) {
    throw new Error(`png: ${file}: cannot decode: ${(e as Error).message}`);
  }
  const { width, height, depth, channels: inChannels, data, palette } = png;
  const plane = width * height;
  // Bit depths below 8 pack several pixels per byte, each row padded to a whole byte.
  const rowBytes = Math.ceil((width * depth) / 8);
  const sampleMask = (1 << depth) - 1;
  const packed = (x: number, y: number): number => {
    const bit = x * depth;
    return (data[y * rowBytes + (bit >> 3)]! >> (8 - depth - (bit & 7))) & sampleMask;
  };

  if (palette) {
    const pixels = new Uint8Array(3 * plane);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const index = depth === 8 ? data[y * width + x]! : packed(x, y);
        const color = palette[index];
        if (!color) {
          throw new Error(`png: ${file}: pixel (${x}, ${y}) uses palette entry ${index}, but the palette has ${palette.length}`);
        }
        const alpha = color[3] ?? 255;
        const p = y * width + x;
        for (let c = 0; c < 3; c++) pixels[c * plane + p] = Math.round((color[c]! * alpha) / 255);
      }
    }
    return { pixels, channels: 3, height, width };
  }

  const colorChannels = inChannels >= 3 ? 3 : 1;
  const hasAlpha = inChannels === 2 || inChannels === 4;
  const max = depth === 16 ? 65535 : (1 << depth) - 1;
  const pixels = new Uint8Array(colorChannels * plane);
  if (depth < 8) {
    // Only grayscale may have these depths (PNG spec, table 11.1).
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) pixels[y * width + x] = Math.round((packed(x, y) * 255) / max);
    }
  } else if (!hasAlpha) {
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < colorChannels; c++) {
        const v = data[p * inChannels + c]!;
        pixels[c * plane + p] = depth === 8 ? v : Math.round((v * 255) / max);
      }
    }
  } else {
    const maxSquared = max * max;
    for (let p = 0; p < plane; p++) {
      const alpha = data[p * inChannels + inChannels - 1]!;
      for (let c = 0; c < colorChannels; c++) {
        pixels[c * plane + p] = Math.round((data[p * inChannels + c]! * alpha * 255) / maxSquared);
      }
    }
  }
  return { pixels, channels: colorChannels, height, width };
}
