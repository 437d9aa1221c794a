import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir, TINY } from './helpers/io.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The test task builds the package first (turbo.json: test depends on build), so a missing
// dist/cli.js is a failure, never a skip.
describe('the built moe-bench executable', () => {
  it('exists (build the package first)', () => {
    expect(existsSync(cli), `${cli} is missing: build the package first`).toBe(true);
  });

  it('validates the shipped scenarios and exits 0', () => {
    const r = run(['--validate']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+ scenario\(s\) valid: .*deepseek-mini.*mixtral-mini/);
  });

  it('exits 2 naming the field of a bad scenario file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...TINY, name: 'bad', layer: { ...TINY.layer, router: { name: 'nope' } } }));
    const r = run(['-d', dir, 'bad']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('bad.json: layer.router.name: unknown router');
  });
});
