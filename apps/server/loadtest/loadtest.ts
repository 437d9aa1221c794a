/**
 * Load test (not a timed test): starts `moe-server` (built dist) as a child process on
 * 127.0.0.1 with the demo layer (Mixtral-mini: E=8, k=2, D=1024, F=3584) on the CPU backend and
 * drives it with autocannon, while a side prober measures /healthz latency.
 *
 *   phase "steady":   64 connections for 20 s, T=8 tokens per request, default queue (256):
 *                     expect zero errors, zero non-2xx, no lost responses.
 *   phase "overflow": the same load against a queue of 4: expect clean 503s (with
 *                     Retry-After), no socket errors, and a server that still answers after.
 *   phase "large-bodies" (only when asked): 12 concurrent maximum-size JSON forwards (700
 *                     rows of 1024, about 14.5 MB each; demo layer with F=256 so compute is
 *                     short) while /healthz is probed: how long a probe waits behind parsing.
 *
 * Usage: node dist-loadtest/loadtest/loadtest.js [--duration 20] [--connections 64]
 *        [--tokens 8] [--format json|base64] [--phase steady|overflow|both|large-bodies] [--out file.json]
 *        [--server-args "--worker-nice 10"]
 * Loopback only; every phase is bounded in time and the server is stopped with SIGTERM at the
 * end (its exit code is checked).
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const D = 1024;

interface Server {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly exited: Promise<number | null>;
  readonly log: () => string;
}

function startServer(extraArgs: string[]): Promise<Server> {
  const proc = spawn(process.execPath, [CLI, '--port', '0', '--log-level', 'warn', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not ready in 120 s:\n${out}`)), 120_000);
    const check = (): void => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m && out.includes('moe-server ready')) {
        clearTimeout(timer);
        resolve({ proc, url: m[1], exited, log: () => out });
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`server exited (${code}):\n${out}`)));
  });
}

/** Seeded normal rows (Box-Muller over a small LCG: no dependency, reproducible). */
function input(tokens: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const u = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 1) / 4294967297;
  const x = new Float32Array(tokens * D);
  for (let i = 0; i < x.length; i++) x[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return x;
}

function body(tokens: number, format: string): string {
  const x = input(tokens, 42);
  if (format === 'base64') return JSON.stringify({ input_b64: Buffer.from(x.buffer).toString('base64'), shape: [tokens, D] });
  const rows = Array.from({ length: tokens }, (_, r) => Array.from(x.subarray(r * D, (r + 1) * D)));
  return JSON.stringify({ input: rows });
}

const PROBE = fileURLToPath(new URL('./healthz-probe.js', import.meta.url));

/** Starts the /healthz prober in its own process; resolves with the latencies (ms). */
function probeHealth(url: string, durationMs: number): Promise<number[]> {
  const proc = spawn(process.execPath, [PROBE, url, String(durationMs), '25'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve, reject) =>
    proc.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`healthz prober exited ${code}`));
      const { times, failures } = JSON.parse(out) as { times: number[]; failures: number };
      if (failures) return reject(new Error(`${failures} /healthz probes failed`));
      resolve(times);
    }),
  );
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function metricValue(url: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && labels.split(',').every((l) => line.includes(l))) sum += Number(line.split(' ').pop());
  }
  return sum;
}

interface PhaseResult {
  phase: string;
  /** What ran: `GET /v1/backends` `active`. */
  backend: unknown;
  server_args: string[];
  duration_s: number;
  connections: number;
  tokens_per_request: number;
  format: string;
  requests_sent: number;
  responses: number;
  status_counts: Record<string, number>;
  errors: number;
  timeouts: number;
  server_answered_forward: number;
  /** Requests autocannon had sent but not seen answered when its clock stopped (it does not wait for them). */
  in_flight_at_stop: number;
  /** Requests neither answered nor in flight at the stop: must be 0. */
  lost: number;
  throughput_req_s: number;
  throughput_tokens_s: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  healthz_ms: { probes: number; p50: number; p99: number; max: number };
  /** prom-client's event-loop lag p99 in the server since its start (ms). */
  server_event_loop_lag_p99_ms: number;
  mean_batch_tokens: number;
  mean_batch_requests: number;
  retry_after_seen?: string | null;
  after_overflow_forward_status?: number;
  server_exit_code: number | null;
}

async function runPhase(phase: 'steady' | 'overflow', opts: { duration: number; connections: number; tokens: number; format: string; serverArgs: string[] }): Promise<PhaseResult> {
  const serverArgs = ['--backend', 'cpu', ...(phase === 'overflow' ? ['--max-queue', '4'] : []), ...opts.serverArgs];
  const server = await startServer(serverArgs);
  const url = `${server.url}/v1/layers/mixtral-mini/forward`;
  const payload = body(opts.tokens, opts.format);
  try {
    // Warm up: the first batches compile and tier up the kernels.
    for (let i = 0; i < 3; i++) {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
      if (r.status !== 200) throw new Error(`warm-up got ${r.status}: ${await r.text()}`);
    }
    const backend = ((await (await fetch(`${server.url}/v1/backends`)).json()) as { active: unknown }).active;
    const beforeServer = await metricValue(server.url, 'moe_http_request_duration_seconds_count', 'route="/v1/layers/:id/forward"');
    const prober = probeHealth(server.url, opts.duration * 1000);
    const result = await autocannon({
      url,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: payload,
      connections: opts.connections,
      duration: opts.duration,
      timeout: 60,
    });
    const health = (await prober).sort((a, b) => a - b);
    const loopLag = await metricValue(server.url, 'moe_server_nodejs_eventloop_lag_p99_seconds', '');
    await new Promise((r) => setTimeout(r, 2000)); // let requests cut off by autocannon finish server-side
    const answered = (await metricValue(server.url, 'moe_http_request_duration_seconds_count', 'route="/v1/layers/:id/forward"')) - beforeServer;
    const batchTokensSum = await metricValue(server.url, 'moe_batch_size_tokens_sum', 'layer="mixtral-mini"');
    const batchCount = await metricValue(server.url, 'moe_batch_size_tokens_count', 'layer="mixtral-mini"');
    const batchRequestsSum = await metricValue(server.url, 'moe_batch_size_requests_sum', 'layer="mixtral-mini"');
    let retryAfter: string | null | undefined;
    let afterStatus: number | undefined;
    if (phase === 'overflow') {
      // The server must still serve after the storm; and a 503 must carry Retry-After.
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
      afterStatus = r.status;
      await r.text();
      const flood = await Promise.all(
        Array.from({ length: 16 }, () => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload }).then(async (res) => ({ status: res.status, retry: res.headers.get('retry-after'), text: await res.text() }))),
      );
      retryAfter = flood.find((f) => f.status === 503)?.retry ?? null;
    }
    const statusCounts: Record<string, number> = {};
    for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) statusCounts[code] = v.count ?? 0;
    const responses = Object.values(statusCounts).reduce((a, b) => a + b, 0);
    server.proc.kill('SIGTERM');
    const exitCode = await server.exited;
    return {
      phase,
      backend,
      server_args: serverArgs,
      duration_s: result.duration,
      connections: opts.connections,
      tokens_per_request: opts.tokens,
      format: opts.format,
      requests_sent: result.requests.sent,
      responses,
      status_counts: statusCounts,
      errors: result.errors,
      timeouts: result.timeouts,
      server_answered_forward: answered,
      in_flight_at_stop: result.requests.sent - responses,
      lost: Math.max(0, result.requests.sent - responses - opts.connections),
      throughput_req_s: result['2xx'] / result.duration,
      throughput_tokens_s: (result['2xx'] * opts.tokens) / result.duration,
      latency_ms: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
      healthz_ms: { probes: health.length, p50: percentile(health, 50), p99: percentile(health, 99), max: health[health.length - 1] },
      server_event_loop_lag_p99_ms: loopLag * 1000,
      mean_batch_tokens: batchCount ? batchTokensSum / batchCount : 0,
      mean_batch_requests: batchCount ? batchRequestsSum / batchCount : 0,
      retry_after_seen: retryAfter,
      after_overflow_forward_status: afterStatus,
      server_exit_code: exitCode,
    };
  } catch (err) {
    server.proc.kill('SIGKILL');
    console.error(server.log());
    throw err;
  }
}

interface LargeBodiesResult {
  phase: 'large-bodies';
  requests: number;
  body_bytes: number;
  statuses: number[];
  parsed_in_worker: number;
  seconds: number;
  healthz_ms: { probes: number; p50: number; p99: number; max: number };
  server_exit_code: number | null;
}

/** 12 concurrent maximum-size JSON forwards with /healthz probed from another process. */
async function runLargeBodies(serverArgs: string[]): Promise<LargeBodiesResult> {
  const server = await startServer(['--backend', 'cpu', '--ffn', '256', '--max-tokens', '1024', '--max-batch-tokens', '1024', ...serverArgs]);
  try {
    const url = `${server.url}/v1/layers/mixtral-mini/forward`;
    const payload = body(700, 'json').replace(/}$/, ',"output_format":"base64"}');
    const prober = probeHealth(server.url, 15_000);
    const t0 = performance.now();
    const statuses = await Promise.all(
      Array.from({ length: 12 }, () => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload }).then(async (r) => (await r.text(), r.status))),
    );
    const seconds = (performance.now() - t0) / 1000;
    const health = (await prober).sort((a, b) => a - b);
    const parsed = await metricValue(server.url, 'moe_request_bodies_parsed_in_worker_total', '');
    server.proc.kill('SIGTERM');
    return {
      phase: 'large-bodies',
      requests: statuses.length,
      body_bytes: Buffer.byteLength(payload),
      statuses,
      parsed_in_worker: parsed,
      seconds,
      healthz_ms: { probes: health.length, p50: percentile(health, 50), p99: percentile(health, 99), max: health[health.length - 1] },
      server_exit_code: await server.exited,
    };
  } catch (err) {
    server.proc.kill('SIGKILL');
    console.error(server.log());
    throw err;
  }
}

function verdict(r: PhaseResult): string[] {
  const problems: string[] = [];
  if (r.errors || r.timeouts) problems.push(`${r.errors} socket errors, ${r.timeouts} timeouts`);
  if (r.lost > 0) problems.push(`${r.lost} requests lost (sent ${r.requests_sent}, answered ${r.responses}, at most ${r.connections} in flight at the stop)`);
  if (r.server_exit_code !== 0) problems.push(`server exit code ${r.server_exit_code}`);
  if (r.phase === 'steady') {
    const bad = Object.entries(r.status_counts).filter(([c]) => c !== '200');
    if (bad.length) problems.push(`non-200 answers: ${JSON.stringify(Object.fromEntries(bad))}`);
    if (!(r.healthz_ms.p99 < 50)) problems.push(`/healthz p99 ${r.healthz_ms.p99.toFixed(1)} ms (limit 50)`);
  } else {
    const other = Object.entries(r.status_counts).filter(([c]) => c !== '200' && c !== '503');
    if (other.length) problems.push(`statuses other than 200/503: ${JSON.stringify(Object.fromEntries(other))}`);
    if (!r.status_counts['503']) problems.push('the queue never overflowed (no 503)');
    if (r.after_overflow_forward_status !== 200) problems.push(`forward after the overflow got ${r.after_overflow_forward_status}`);
    if (!r.retry_after_seen) problems.push('no Retry-After on a 503');
  }
  return problems;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '20' },
      connections: { type: 'string', default: '64' },
      tokens: { type: 'string', default: '8' },
      format: { type: 'string', default: 'json' },
      phase: { type: 'string', default: 'both' },
      out: { type: 'string' },
      'server-args': { type: 'string', default: '' },
    },
  });
  const opts = { duration: Number(values.duration), connections: Number(values.connections), tokens: Number(values.tokens), format: values.format!, serverArgs: values['server-args']!.split(' ').filter(Boolean) };
  if (values.phase === 'large-bodies') {
    const r = await runLargeBodies(opts.serverArgs);
    console.log(JSON.stringify(r, null, 2));
    if (values.out) writeFileSync(values.out, JSON.stringify({ date: new Date().toISOString(), node: process.version, results: [r] }, null, 2));
    process.exit(r.statuses.every((s) => s === 200) && r.server_exit_code === 0 ? 0 : 1);
  }
  const phases = values.phase === 'both' ? (['steady', 'overflow'] as const) : [values.phase as 'steady' | 'overflow'];
  const results: PhaseResult[] = [];
  let failed = false;
  for (const phase of phases) {
    console.log(`--- phase ${phase}: ${opts.connections} connections, ${opts.duration} s, T=${opts.tokens} (${opts.format})`);
    const r = await runPhase(phase, opts);
    results.push(r);
    console.log(JSON.stringify(r, null, 2));
    const problems = verdict(r);
    console.log(problems.length ? `FAIL ${phase}: ${problems.join('; ')}` : `PASS ${phase}`);
    failed ||= problems.length > 0;
  }
  if (values.out) writeFileSync(values.out, JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2));
  process.exit(failed ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
