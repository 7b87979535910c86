// `report`: render RESULTS.md, report.html (and report.png) again from a study's study.json,
// e.g. after changing the renderers, without rerunning the study.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@bitvit/vit';
import { bool, formatHelp, parseFlags, str, UsageError, type FlagTable } from '../args.js';
import { renderResultsMarkdown } from '../study/report-md.js';
import { renderReportHtml } from '../study/report-html.js';
import { screenshotReport } from '../study/screenshot.js';
import type { StudyResults } from '../study/results.js';

export const REPORT_FLAGS: FlagTable = {
  study: { type: 'string', help: 'a study output folder (holding study.json)' },
  screenshot: { type: 'boolean', default: true, help: 'also save report.png with headless Chromium' },
  help: { type: 'boolean', default: false, help: 'show this help' },
};

export async function reportCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags(argv, REPORT_FLAGS, 'report');
  if (bool(f, 'help')) {
    console.log(formatHelp('report', 'render RESULTS.md, report.html and report.png from a study.json', REPORT_FLAGS));
    return 0;
  }
  const dir = str(f, 'study');
  if (!dir) throw new UsageError('report: --study <dir> is required');
  const path = join(dir, 'study.json');
  if (!existsSync(path)) throw new Error(`report: no study.json in ${dir} (run pnpm study first)`);
  const results = JSON.parse(await readFile(path, 'utf8')) as StudyResults;
  await writeFileAtomic(join(dir, 'RESULTS.md'), renderResultsMarkdown(results));
  await writeFileAtomic(join(dir, 'report.html'), renderReportHtml(results));
  if (bool(f, 'screenshot')) await screenshotReport(join(dir, 'report.html'), join(dir, 'report.png'));
  console.log(JSON.stringify({ dir, files: ['RESULTS.md', 'report.html', ...(bool(f, 'screenshot') ? ['report.png'] : [])] }));
  return 0;
}
