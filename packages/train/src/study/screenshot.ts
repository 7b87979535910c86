// report.html in headless Chromium: the study saves its screenshot (docs/report.png) with it,
// and the report test checks with it that every chart rendered.
//
// playwright-core drives Debian's /usr/bin/chromium (never `playwright install`: it downloads a
// browser). It is a devDependency, imported only when a page is opened, so the rest of the
// package works where it is not installed.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Headless without a sandbox or GPU, and quiet: no background fetches, updates, sync or QUIC. */
export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Wide enough for the report's full-width charts (1296 px plus margins) at their natural size. */
export const REPORT_VIEWPORT = { width: 1340, height: 900 };

export interface ReportPage {
  page: Page;
  /** Every URL the page requested that is not the report file itself (a self-contained page has none). */
  requests: string[];
  /** Console errors and uncaught exceptions seen in the page. */
  errors: string[];
  close(): Promise<void>;
}

/** Opens an HTML file in headless Chromium with a fresh profile (a new temporary user-data-dir). */
export async function openReportPage(htmlPath: string): Promise<ReportPage> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`openReportPage: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`);
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(join(tmpdir(), 'bitvit-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
      ignoreDefaultArgs: ['--headless'], // ours says --headless=new
      viewport: REPORT_VIEWPORT,
      timeout: 60_000,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const url = pathToFileURL(resolve(htmlPath)).href;
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (request) => {
      if (request.url() !== url) requests.push(request.url());
    });
    page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console.error: ${message.text()}`);
    });
    await page.goto(url, { waitUntil: 'load' });
    const opened = context;
    return {
      page,
      requests,
      errors,
      async close() {
        await opened.close();
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await context?.close();
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
}

/** Saves a full-page PNG of the report at `htmlPath` to `pngPath`. */
export async function screenshotReport(htmlPath: string, pngPath: string): Promise<void> {
  const report = await openReportPage(htmlPath);
  try {
    await report.page.screenshot({ path: pngPath, fullPage: true });
  } finally {
    await report.close();
  }
}
