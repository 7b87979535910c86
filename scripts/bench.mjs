// `pnpm bench [name...] [-- flags]`: runs each package's benchmark scripts (TypeScript, through tsx,
// importing the packages' sources) one after another in separate processes.
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
// `--flag value` pairs go to every script; bare words pick scripts by name.
const names = [];
const flags = [];
for (let i = 0; i < args.length; i++) {
  if (!args[i].startsWith('-')) names.push(args[i]);
  else {
    flags.push(args[i]);
    if (!args[i].includes('=') && i + 1 < args.length && !args[i + 1].startsWith('-')) flags.push(args[++i]);
  }
}
const root = new URL('..', import.meta.url).pathname;
const scripts = [];
for (const pkg of ['tensor', 'nn', 'bitnet', 'vit', 'train']) {
  const dir = join(root, 'packages', pkg, 'bench');
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.bench.ts')) continue;
    const name = `${pkg}/${f.replace('.bench.ts', '')}`;
    if (names.length && !names.some((n) => name.includes(n))) continue;
    scripts.push([name, join(dir, f)]);
  }
}
let failed = 0;
for (const [name, file] of scripts) {
  console.log(`\n=== ${name} ===`);
  // relaxed SIMD (fused multiply-adds) as the CLI turns it on; Node 20 has it behind this flag,
  // later versions on by default (BITVIT_RELAXED_SIMD=0: plain SIMD, for comparison)
  const relaxed = process.versions.node.split('.')[0] === '20' && process.env.BITVIT_RELAXED_SIMD !== '0' ? ['--experimental-wasm-relaxed-simd'] : [];
  const r = spawnSync(process.execPath, [...relaxed, '--conditions=source', '--import', 'tsx', file, ...flags], {
    stdio: 'inherit',
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
