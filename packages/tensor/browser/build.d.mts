// Types of build.mjs, for the TypeScript tests that import it.
import type { Server } from 'node:http';

/** Bundle the framework into outdir/bitvit.js (ESM) with the page beside it. */
export function buildBrowser(options?: { outdir?: string; minify?: boolean }): Promise<{ outdir: string; files: Array<{ name: string; bytes: number }> }>;
/** Serve a folder over http on 127.0.0.1; resolves with the server and its base URL. */
export function serveDir(dir: string, port?: number): Promise<{ server: Server; url: string }>;
