// Runs code in headless Chromium on SwiftShader (software Vulkan), where gpu.js
// gets real WebGL2 and WebGPU contexts on a machine without a GPU:
// esbuild bundles a page script, a local http server on 127.0.0.1 serves it
// (WebGPU needs a secure context: http://127.0.0.1 is one, about:blank is not),
// and playwright-core drives Debian's /usr/bin/chromium. Never `playwright
// install`: it downloads a browser.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * The flags that give WebGL2 and WebGPU without a GPU. WebGL2 runs on ANGLE
 * over SwiftShader with no flag at all; naming it keeps that true where a
 * GPU exists. WebGPU needs --enable-unsafe-webgpu (Linux has no WebGPU by
 * default) and then finds SwiftShader's adapter; --enable-unsafe-swiftshader
 * keeps the software fallback allowed now that Chromium deprecates it.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless=new',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // window.gc(), for the tests that count device arrays left after garbage collection
  '--js-flags=--expose-gc',
];

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/** Bundles `entry` and everything it imports (gpu.js through its browser build) into one IIFE script. */
export async function bundleForBrowser(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`bundleForBrowser: esbuild produced no output for ${entry}`);
  return file.text;
}

export interface BrowserPage {
  page: Page;
  url: string;
  /** console errors and uncaught exceptions seen in the page */
  errors: string[];
  close(): Promise<void>;
}

/** Serves `script` in an empty page on 127.0.0.1 and opens it in headless Chromium. */
export async function openPage(script: string): Promise<BrowserPage> {
  const html = '<!doctype html><meta charset="utf-8"><title>gpu parity</title><script src="/bundle.js"></script>';
  const server: Server = createServer((request, response) => {
    if (request.url === '/bundle.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(script);
    } else if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(html);
    } else if (request.url === '/favicon.ico') {
      response.writeHead(204);
      response.end();
    } else {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  let browser: Browser | undefined;
  try {
    // launch() gives each run a fresh temporary profile (user-data-dir)
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, ignoreDefaultArgs: ['--headless'], timeout: 60_000 });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console.error: ${message.text()}`);
    });
    await page.goto(url);
    const opened = browser;
    return {
      page,
      url,
      errors,
      async close() {
        await opened.close();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  } catch (error) {
    await browser?.close();
    server.close();
    throw error;
  }
}
