/**
 * Process-level behaviour, with the server as a child process started by its CLI:
 * SIGTERM stops accepting, answers every accepted request and exits 0; /healthz answers fast
 * while the inference worker is saturated (compute is off the event loop).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomInput } from '@moe-runtime/core';
import { tempDir } from '@moe-runtime/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { post, rowsOf, smallConfig, TEST_BACKENDS } from './helpers.js';
import { RawConnection } from './raw-http.js';

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
  const dir = tempDir('moe-server-test-');
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
    // Each batch holds the worker thread for 500 ms, three in a row: a probe answered behind them
    // would wait for the batch in progress, so most probes would take hundreds of ms. The bounds
    // leave room for a loaded machine (a probe measured 349 ms there) while still telling the two apart.
    times.sort((a, b) => a - b);
    expect(times[Math.floor(times.length / 2)]).toBeLessThan(150);
    expect(times[times.length - 1]).toBeLessThan(500);
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
    const dir = tempDir('moe-server-test-');
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

/** Resolves with `p`'s value, or rejects naming `what` if it takes longer than `ms` (a guard against hangs, not a timing check). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms))]);
}

describe('shutdown edges', () => {
  it('a stalled upload cannot hold the drain past --drain-timeout: it is cut and the process exits 0', async () => {
    child = await spawnServer({ backend: ['naive'], layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) }], limits: { drainTimeoutMs: 300 } });
    const stalled = await RawConnection.open(child.url);
    // Headers and a part of the body, then nothing: the request is accepted and never completes.
    stalled.write('POST /v1/layers/l/forward HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"input":[[');
    // A full round trip on another connection: the server has read the stalled headers by then.
    expect((await fetch(`${child.url}/healthz`)).status).toBe(200);
    child.proc.kill('SIGTERM');
    expect(await within(child.exited, 20_000, 'exit after SIGTERM')).toBe(0);
    expect(child.output()).toContain('drain deadline passed: cut 1 unfinished request(s)');
    stalled.close();
  });

  it('a server whose launcher dies without forwarding the signal drains and exits on its own', async () => {
    const dir = tempDir('moe-server-test-');
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'warn', backendModules: [TEST_BACKENDS], backend: ['naive'], layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) }] }));
    // A launcher like npm or pnpm: starts the server and dies on SIGKILL without passing anything on.
    const launcher = `const c = require('node:child_process').spawn(process.execPath, [${JSON.stringify(CLI)}, '--config', ${JSON.stringify(file)}], { stdio: ['ignore', 'pipe', 'pipe'] });
console.log('server-pid ' + c.pid); c.stdout.pipe(process.stdout); c.stderr.pipe(process.stdout);`;
    const proc = spawn(process.execPath, ['-e', launcher], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    await within(
      new Promise<void>((resolve) => proc.stdout!.on('data', () => out.includes('moe-server ready') && resolve())),
      30_000,
      'server ready',
    );
    const pid = Number(/server-pid (\d+)/.exec(out)![1]);
    proc.kill('SIGKILL');
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      await within(
        (async () => {
          while (alive()) await new Promise((r) => setTimeout(r, 100));
        })(),
        20_000,
        'orphaned server to exit',
      );
      expect(alive()).toBe(false);
    } finally {
      // A server that did not exit would be left running by this test.
      if (alive()) process.kill(pid, 'SIGKILL');
    }
  });
});
