// The browser build: the framework (tensor, nn, vit, bitnet, and gpu.js) as one ES module, and
// a page that trains a tiny BitNet ViT on the gpu backend with it.
//
//   node packages/tensor/browser/build.mjs            writes packages/tensor/browser/dist/
//   node packages/tensor/browser/build.mjs --serve    ... and serves it on http://127.0.0.1:8080/
//
// dist/bitvit.js   the framework: import { tensor, nn, vit, bitnet } from './bitvit.js'
// dist/page.js     the page script (imports ./bitvit.js)
// dist/index.html  the page
//
// Packages resolve to their TypeScript sources (the "source" export condition), gpu.js to its
// browser build (its package.json "browser" field). Node built-ins (node:fs, node:path: saving
// and loading checkpoints and packed weights) become stubs that throw when called, so the
// bundle loads in a browser; a Node built-in imported under a name the stubs lack fails the build.
import { copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

// What the framework imports from Node, by module: each becomes a function that throws.
const NODE_STUBS = {
  'node:fs': ['existsSync', 'readFileSync', 'writeFileSync', 'mkdirSync'],
  'node:fs/promises': ['readFile', 'writeFile', 'mkdir', 'rename', 'open', 'rm'],
  'node:path': ['join', 'dirname', 'basename', 'resolve'],
};

const nodeStubs = {
  name: 'node-stubs',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (args) => {
      const names = NODE_STUBS[args.path];
      if (!names) return { errors: [{ text: `${args.path} has no browser stub (imported by the framework; add it to NODE_STUBS in build.mjs or keep it out of the browser build)` }] };
      const body = names.map((n) => `export const ${n} = unavailable(${JSON.stringify(n)});`).join('\n');
      return {
        contents: `function unavailable(name) { return () => { throw new Error(${JSON.stringify(args.path)} + '.' + name + ': not available in the browser build'); }; }\n${body}\nexport default {};`,
        loader: 'js',
      };
    });
  },
};

// The page imports the framework from the separate bundle instead of bundling a second copy.
const frameworkExternal = {
  name: 'framework-external',
  setup(b) {
    b.onResolve({ filter: /^\.\/entry\.js$/ }, () => ({ path: './bitvit.js', external: true }));
  },
};

/** Builds dist/ (or `outdir`); returns the files written and their sizes. */
export async function buildBrowser({ outdir = join(here, 'dist'), minify = false } = {}) {
  mkdirSync(outdir, { recursive: true });
  const common = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', conditions: ['source'], minify, logLevel: 'warning', legalComments: 'none' };
  await build({ ...common, entryPoints: { bitvit: join(here, 'entry.ts') }, outdir, plugins: [nodeStubs] });
  await build({ ...common, entryPoints: { page: join(here, 'page.ts') }, outdir, plugins: [frameworkExternal] });
  copyFileSync(join(here, 'index.html'), join(outdir, 'index.html'));
  const files = ['bitvit.js', 'page.js', 'index.html'].map((name) => ({ name, bytes: statSync(join(outdir, name)).size }));
  return { outdir, files };
}

const types = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json' };

/** Serves `dir` on 127.0.0.1 (a secure context, as WebGPU wants; ES modules do not load from file://). */
export function serveDir(dir, port = 0) {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const file = join(dir, path === '/' ? 'index.html' : path.slice(1));
    try {
      if (!file.startsWith(dir)) throw new Error('outside');
      const body = readFileSync(file);
      response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404);
      response.end();
    }
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}/` })));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { outdir, files } = await buildBrowser({ minify: process.argv.includes('--minify') });
  for (const f of files) console.log(`${join(outdir, f.name)}  ${(f.bytes / 1024).toFixed(0)} KiB`);
  if (process.argv.includes('--serve')) {
    const { url } = await serveDir(outdir, 8080);
    console.log(`serving ${outdir} at ${url} (?mode=webgl2|webgl|webasm&steps=3); Ctrl-C to stop`);
  }
}
