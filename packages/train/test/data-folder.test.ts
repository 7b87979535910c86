import { join } from 'node:path';
import { symlinkSync } from 'node:fs';
import { encode } from 'fast-png';
import type { ImageData } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePngImage, loadImageFolder } from '../src/data/index.js';
import { tempDir, writeFile } from './fixtures/data-files.js';

const temp = tempDir('folder');
afterAll(temp.cleanup);

const png = (image: ImageData): Uint8Array => encode(image);

describe('decodePngImage', () => {
  it('decodes 8-bit grayscale as is', () => {
    const d = decodePngImage(png({ width: 3, height: 2, channels: 1, depth: 8, data: new Uint8Array([0, 1, 2, 128, 254, 255]) }), 'g8');
    expect(d).toMatchObject({ channels: 1, height: 2, width: 3 });
    expect(Array.from(d.pixels)).toEqual([0, 1, 2, 128, 254, 255]);
  });

  it('scales 16-bit grayscale to 8 bits by round(v * 255 / 65535)', () => {
    const d = decodePngImage(png({ width: 4, height: 1, channels: 1, depth: 16, data: new Uint16Array([0, 257, 32896, 65535]) }), 'g16');
    // 32896 * 255 / 65535 = 128.0
    expect(Array.from(d.pixels)).toEqual([0, 1, 128, 255]);
  });

  it('unpacks 1-bit grayscale rows (each padded to a byte)', () => {
    // 10 pixels per row: row 0 = 1011000001, row 1 = 1111111111.
    const data = new Uint8Array([0b10110000, 0b01000000, 0xff, 0xc0]);
    const d = decodePngImage(png({ width: 10, height: 2, channels: 1, depth: 1, data }), 'g1');
    expect(Array.from(d.pixels)).toEqual([255, 0, 255, 255, 0, 0, 0, 0, 0, 255, ...new Array<number>(10).fill(255)]);
  });

  it('composites grayscale+alpha on black', () => {
    // (gray, alpha) pairs: opaque 200, half 200, transparent 200.
    const d = decodePngImage(png({ width: 3, height: 1, channels: 2, depth: 8, data: new Uint8Array([200, 255, 200, 128, 200, 0]) }), 'ga');
    expect(d.channels).toBe(1);
    expect(Array.from(d.pixels)).toEqual([200, Math.round((200 * 128) / 255), 0]);
  });

  it('splits RGB into planes', () => {
    const data = new Uint8Array([10, 20, 30, 40, 50, 60]);
    const d = decodePngImage(png({ width: 2, height: 1, channels: 3, depth: 8, data }), 'rgb');
    expect(d.channels).toBe(3);
    expect(Array.from(d.pixels)).toEqual([10, 40, 20, 50, 30, 60]);
  });

  it('composites RGBA, 8 and 16 bit, on black', () => {
    const rgba8 = decodePngImage(png({ width: 2, height: 1, channels: 4, depth: 8, data: new Uint8Array([255, 100, 0, 255, 255, 100, 0, 51]) }), 'rgba8');
    expect(Array.from(rgba8.pixels)).toEqual([255, 51, 100, 20, 0, 0]);
    const rgba16 = decodePngImage(
      png({ width: 1, height: 1, channels: 4, depth: 16, data: new Uint16Array([65535, 32896, 0, 32768]) }),
      'rgba16',
    );
    // round(255 * v * a / 65535^2): 65535, a = 32768 -> 127.5019 -> 128; 32896 -> 64.25 -> 64.
    expect(Array.from(rgba16.pixels)).toEqual([128, 64, 0]);
  });

  it('expands palette images, 8- and 4-bit, with palette transparency', () => {
    // fast-png's encoder writes the alphas of the non-opaque entries as the first tRNS entries,
    // so they must come first in the palette for the file to mean what we write here.
    const palette = [[0, 255, 0, 128], [0, 0, 255, 0], [255, 0, 0, 255]];
    const p8 = decodePngImage(png({ width: 3, height: 1, channels: 1, depth: 8, data: new Uint8Array([2, 0, 1]), palette }), 'p8');
    expect(p8.channels).toBe(3);
    expect(Array.from(p8.pixels)).toEqual([255, 0, 0, 0, 128, 0, 0, 0, 0]);
    const p4 = decodePngImage(
      png({ width: 3, height: 1, channels: 1, depth: 4, data: new Uint8Array([0x21, 0x00]), palette: [[1, 2, 3], [4, 5, 6], [7, 8, 9]] }),
      'p4',
    );
    expect(Array.from(p4.pixels)).toEqual([7, 4, 1, 8, 5, 2, 9, 6, 3]);
  });

  it('rejects a file that is not a PNG, naming it and its first bytes', () => {
    expect(() => decodePngImage(new TextEncoder().encode('GIF89a...'), 'x.png')).toThrow(
      'png: x.png: not a PNG file (starts with 47 49 46 38 39 61 2e 2e, a PNG starts with 89 50 4e 47 0d 0a 1a 0a)',
    );
    expect(() => decodePngImage(new Uint8Array(0), 'empty.png')).toThrow(/empty.png: not a PNG file \(starts with nothing, the file is empty/);
  });

  it('rejects a PNG with a broken body', () => {
    const bytes = png({ width: 2, height: 2, channels: 1, depth: 8, data: new Uint8Array(4) });
    expect(() => decodePngImage(bytes.subarray(0, 30), 'cut.png')).toThrow(/^png: cut.png: cannot decode: /);
  });
});

const gray = (w: number, h: number, fill: (k: number) => number): Uint8Array =>
  png({ width: w, height: h, channels: 1, depth: 8, data: Uint8Array.from({ length: w * h }, (_, k) => fill(k)) });
const rgb = (w: number, h: number, r: number, g: number, b: number): Uint8Array =>
  png({ width: w, height: h, channels: 3, depth: 8, data: Uint8Array.from({ length: w * h * 3 }, (_, k) => [r, g, b][k % 3]!) });

function writeFolder(name: string, files: Record<string, Uint8Array | string>): string {
  const dir = join(temp.dir, name);
  for (const [path, bytes] of Object.entries(files)) writeFile(join(dir, path), bytes);
  return dir;
}

describe('loadImageFolder', () => {
  it('takes class ids from sorted folder names and files in sorted order', async () => {
    const dir = writeFolder('good', {
      'train/cat/b.png': gray(2, 2, () => 20),
      'train/cat/a.png': gray(2, 2, () => 10),
      'train/Ant/x.png': gray(2, 2, (k) => k),
      'train/.DS_Store': 'junk',
      'train/cat/.hidden.png': 'junk',
      'test/Ant/y.png': gray(2, 2, () => 99),
      'test/cat/.keep': '',
    });
    const { train, test } = await loadImageFolder(dir);
    // "Ant" < "cat" in code-unit order (uppercase first), whatever the locale.
    expect(train).toMatchObject({ count: 3, channels: 1, height: 2, width: 2, numClasses: 2, classNames: ['Ant', 'cat'] });
    expect(Array.from(train.labels)).toEqual([0, 1, 1]);
    expect(Array.from(train.images)).toEqual([0, 1, 2, 3, 10, 10, 10, 10, 20, 20, 20, 20]);
    expect(test).toMatchObject({ count: 1, numClasses: 2, classNames: ['Ant', 'cat'] });
    expect(Array.from(test.images)).toEqual([99, 99, 99, 99]);
    expect(train.source).toBe(`folder:${dir} train`);
  });

  it('sets the shape from the first image and converts the others to it', async () => {
    const dir = writeFolder('mixed', {
      'train/a/1.png': rgb(2, 1, 255, 0, 0),
      'train/b/1.png': gray(4, 2, () => 77), // resized to 2x1 and repeated to 3 channels
      'test/a/1.png': png({ width: 2, height: 1, channels: 4, depth: 8, data: new Uint8Array([0, 0, 255, 255, 0, 0, 255, 0]) }),
      'test/b/1.png': png({ width: 2, height: 1, channels: 3, depth: 16, data: new Uint16Array([65535, 0, 0, 0, 65535, 0]) }),
    });
    const { train, test } = await loadImageFolder(dir);
    expect(train).toMatchObject({ channels: 3, height: 1, width: 2 });
    expect(Array.from(train.images)).toEqual([255, 255, 0, 0, 0, 0, 77, 77, 77, 77, 77, 77]);
    // Opaque blue then transparent (black); 16-bit red then green.
    expect(Array.from(test.images)).toEqual([0, 0, 0, 0, 255, 0, 255, 0, 0, 255, 0, 0]);
  });

  it('converts to the requested channels and size', async () => {
    const dir = writeFolder('sized', {
      'train/a/1.png': rgb(4, 4, 255, 0, 0),
      'train/b/1.png': gray(2, 2, () => 200),
      'test/a/1.png': rgb(8, 8, 0, 0, 255),
      'test/b/1.png': png({ width: 2, height: 2, channels: 2, depth: 16, data: new Uint16Array(8).fill(65535) }),
    });
    const { train, test } = await loadImageFolder(dir, { channels: 1, height: 3, width: 3 });
    expect(train).toMatchObject({ channels: 1, height: 3, width: 3 });
    // Pure red has luma (19595 * 255 + 32768) >> 16 = 76; a uniform image resizes to itself.
    expect(Array.from(train.images)).toEqual([...new Array<number>(9).fill(76), ...new Array<number>(9).fill(200)]);
    // Pure blue: (7471 * 255 + 32768) >> 16 = 29.
    expect(Array.from(test.images)).toEqual([...new Array<number>(9).fill(29), ...new Array<number>(9).fill(255)]);
  });

  it('follows a symlinked class folder', async () => {
    const dir = writeFolder('linked', { 'train/a/1.png': gray(1, 1, () => 5), 'test/a/1.png': gray(1, 1, () => 6), 'elsewhere/1.png': gray(1, 1, () => 7) });
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'train', 'b'));
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'test', 'b'));
    const { train } = await loadImageFolder(dir);
    expect(train.classNames).toEqual(['a', 'b']);
    expect(Array.from(train.images)).toEqual([5, 7]);
  });

  it('names the classes that differ between train/ and test/', async () => {
    const dir = writeFolder('differ', {
      'train/a/1.png': gray(1, 1, () => 0),
      'train/b/1.png': gray(1, 1, () => 0),
      'test/a/1.png': gray(1, 1, () => 0),
      'test/c/1.png': gray(1, 1, () => 0),
    });
    await expect(loadImageFolder(dir)).rejects.toThrow(
      `folder: ${dir}: class folders differ between train/ and test/: only in train/: [b], only in test/: [c]`,
    );
  });

  it('names a file that is not a PNG', async () => {
    const dir = writeFolder('notpng', { 'train/a/1.png': gray(1, 1, () => 0), 'train/a/notes.txt': 'hello', 'test/a/1.png': gray(1, 1, () => 0) });
    await expect(loadImageFolder(dir)).rejects.toThrow(`png: ${join(dir, 'train/a/notes.txt')}: not a PNG file (starts with 68 65 6c 6c 6f`);
  });

  it('rejects missing splits, stray files, nested folders and empty classes', async () => {
    const noTest = writeFolder('notest', { 'train/a/1.png': gray(1, 1, () => 0) });
    await expect(loadImageFolder(noTest)).rejects.toThrow(`folder: missing ${join(noTest, 'test')} (expected train/ and test/ with one subfolder per class)`);
    const stray = writeFolder('stray', { 'train/a/1.png': gray(1, 1, () => 0), 'train/readme.md': 'x', 'test/a/1.png': gray(1, 1, () => 0) });
    await expect(loadImageFolder(stray)).rejects.toThrow(`folder: ${join(stray, 'train/readme.md')}: a file where only class folders belong`);
    const nested = writeFolder('nested', { 'train/a/deep/1.png': gray(1, 1, () => 0), 'test/a/1.png': gray(1, 1, () => 0) });
    await expect(loadImageFolder(nested)).rejects.toThrow(`folder: ${join(nested, 'train/a/deep')}: a folder inside a class folder (expected only PNG files)`);
    const empty = writeFolder('emptyclass', { 'train/a/1.png': gray(1, 1, () => 0), 'train/b/.keep': '', 'test/a/1.png': gray(1, 1, () => 0), 'test/b/.keep': '' });
    await expect(loadImageFolder(empty)).rejects.toThrow(`folder: ${join(empty, 'train/b')}: class folder holds no images`);
    const none = writeFolder('noclasses', { 'train/.keep': '', 'test/.keep': '' });
    await expect(loadImageFolder(none)).rejects.toThrow(`folder: ${join(none, 'train')} holds no class folders`);
  });

  it('rejects an unusable requested shape', async () => {
    const dir = writeFolder('shape', { 'train/a/1.png': gray(1, 1, () => 0), 'test/a/1.png': gray(1, 1, () => 0) });
    await expect(loadImageFolder(dir, { channels: 4, height: 2, width: 2 })).rejects.toThrow(
      `folder: ${dir}: 4 channels requested, only 1 (grayscale) and 3 (RGB) are supported`,
    );
    await expect(loadImageFolder(dir, { channels: 1, height: 0, width: 2 })).rejects.toThrow('image size 0x2 is not a positive whole number of pixels');
  });
});
