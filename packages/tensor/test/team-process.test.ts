// The thread team's environment setting, which is read once per process (BITVIT_SPIN_US).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const teamModule = new URL('../src/kernels/wasm/team.ts', import.meta.url).href;
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

function spinIn(env: string | undefined): { status: number | null; stdout: string; stderr: string } {
  const code = `import { threadTeam } from '${teamModule}'; console.log(threadTeam().spinMicros);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: repoRoot, encoding: 'utf8', timeout: 60_000,
    env: { ...process.env, BITVIT_SPIN_US: env },
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

describe('BITVIT_SPIN_US', () => {
  it('sets how long the workers busy-wait, 1000 us by default', () => {
    expect(spinIn('').stdout).toBe('1000');
    expect(spinIn('0').stdout).toBe('0');
    expect(spinIn('250').stdout).toBe('250');
  });

  it('refuses a value that is not a number of microseconds, naming it', () => {
    const r = spinIn('fast');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/BITVIT_SPIN_US must be a number of microseconds from 0 to 1e6, got "fast"/);
  });
});
