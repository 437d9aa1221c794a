/**
 * Process-level behaviour, with the server as a child process started by its CLI:
 * SIGTERM stops accepting, answers every accepted request and exits 0; /healthz answers fast
 * while the inference worker is saturated (compute is off the event loop).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomInput } from '@moe-runtime/core';
import { afterEach, describe, expect, it } from 'vitest';
import { post, rowsOf, smallConfig, TEST_BACKENDS } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const D = 8;

interface Child {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly exited: Promise<number | null>;
  output(): string;
}

/** Starts `moe-server --config <file>` and resolves once it printed its URL and is ready. */
async function spawnServer(config: Record<string, unknown>): Promise<Child> {
  const dir = mkdtempSync(join(tmpdir(), 'moe-server-test-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'warn', backendModules: [TEST_BACKENDS], ...config }));
  const proc = spawn(process.execPath, [CLI, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not get ready:\n${out}`)), 30_000);
    const check = (): void => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m && out.includes('moe-server ready')) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`server exited (${code}) before ready:\n${out}`)));
  });
  return { proc, url, exited, output: () => out };
}

let child: Child | undefined;
afterEach(() => {
  if (child && child.proc.exitCode === null) child.proc.kill('SIGKILL');
  child = undefined;
});

describe('moe-server process', () => {
  it('SIGTERM: every accepted request is answered, new ones are refused, exit code 0', async () => {
    child = await spawnServer({
      backend: [{ name: 'naive', options: { delayMs: 150 } }],
      layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) }],
      batching: { mode: 'per-request' },
    });
    const url = `${child.url}/v1/layers/l/forward`;
    // 6 requests x 150 ms one after another: most are still queued when SIGTERM arrives.
    const pending = Array.from({ length: 6 }, (_, i) => post(url, { input: rowsOf(randomInput(2, D, 10 + i).data, D) }));
    await new Promise((r) => setTimeout(r, 200));
    child.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 50));
    const late = await post(url, { input: rowsOf(randomInput(1, D, 99).data, D) }).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(late === 'refused' || late === 503).toBe(true);
    const answers = await Promise.all(pending);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(await child.exited).toBe(0);
    expect(child.output()).toContain('SIGTERM: draining');
  });

  it('/healthz answers quickly while the worker spins on heavy batches', async () => {
    child = await spawnServer({
      backend: [{ name: 'naive', options: { busyMs: 500 } }],
      layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) }],
      batching: { mode: 'per-request' },
    });
    const url = `${child.url}/v1/layers/l/forward`;
    const pending = Array.from({ length: 3 }, (_, i) => post(url, { input: rowsOf(randomInput(1, D, 20 + i).data, D) }));
    await new Promise((r) => setTimeout(r, 100));
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      const res = await fetch(`${child.url}/healthz`);
      expect(res.status).toBe(200);
      await res.text();
      times.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await Promise.all(pending)).every((a) => a.status === 200)).toBe(true);
    // Each batch holds the worker thread for 500 ms; a probe blocked behind it would take that long.
    times.sort((a, b) => a - b);
    expect(times[Math.floor(times.length / 2)]).toBeLessThan(50);
    expect(times[times.length - 1]).toBeLessThan(250);
    child.proc.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });

  it('SIGTERM during a streamed generation (demo model): the stream finishes with [DONE], exit 0', async () => {
    child = await spawnServer({ backend: ['cpu'], layers: [], models: [{ id: 'tiny', source: 'demo', modelType: 'mixtral', seed: 2 }] });
    const res = await fetch(`${child.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', prompt: 'hello', max_tokens: 400, temperature: 0, stream: true }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    child.proc.kill('SIGTERM');
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += new TextDecoder().decode(r.value);
    }
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text).toMatch(/"finish_reason":"(length|stop)"/);
    expect(await child.exited).toBe(0);
    expect(child.output()).toContain('moe-server ready: model tiny on cpu');
  });

  it('exits 1 with the reason when no backend in the list can start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moe-server-test-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ port: 0, logLevel: 'warn', backendModules: [TEST_BACKENDS], backend: ['broken', 'nonexistent'], layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) }] }));
    const proc = spawn(process.execPath, [CLI, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain('broken (broken test backend: cannot initialise)');
    expect(err).toContain("nonexistent (unknown backend 'nonexistent'");
  });
});
