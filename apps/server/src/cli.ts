#!/usr/bin/env node
/**
 * `moe-server`: reads a JSON config file and flags (flags win), starts the server, and stops it
 * gracefully on SIGTERM/SIGINT (stop accepting, answer every accepted request within
 * `limits.drainTimeoutMs`, exit 0). Run through a package manager (`pnpm server`), a signal
 * may kill the manager and never reach this process: it then sees its parent change (it was
 * orphaned) and drains as on SIGTERM, so it never keeps listening on its own.
 */
import { errorMessage } from '@moe-runtime/core';
import { configFromArgs } from './cli-args.js';
import type { ServerConfig } from './config.js';
import type { ModelInfo } from './generation/generation-protocol.js';
import { createServer } from './http/server.js';

/** Calls `onOrphaned` once when this process's parent exits (the parent id changes to a reaper's). */
function watchParent(onOrphaned: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onOrphaned();
  }, 500);
  timer.unref();
}

async function main(): Promise<void> {
  // An orphaned process's stdout may be a pipe nobody reads any more: a failed write must not crash the drain.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  let resolved: { config: ServerConfig; printConfig: boolean };
  try {
    resolved = configFromArgs(process.argv.slice(2));
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') process.exit(0);
    console.error(`moe-server: ${errorMessage(err)}`);
    process.exit(2);
  }
  const { config, printConfig } = resolved;
  if (printConfig) {
    console.log(JSON.stringify({ ...config, apiKey: config.apiKey ? '<set>' : undefined }, null, 2));
    return;
  }
  const server = await createServer(config);
  let signals = 0;
  const stop = (signal: string): void => {
    if (++signals > 1) {
      console.error(`moe-server: second ${signal}, exiting now`);
      process.exit(1);
    }
    console.log(`moe-server: ${signal}: draining (no new requests; finishing accepted ones, at most ${config.limits.drainTimeoutMs} ms)`);
    server.close().then(
      () => {
        if (server.cutAtDrain) console.error(`moe-server: drain deadline passed: cut ${server.cutAtDrain} unfinished request(s)`);
        console.log('moe-server: stopped');
        process.exit(0);
      },
      (err: unknown) => {
        console.error(`moe-server: error while stopping: ${errorMessage(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  watchParent(() => stop('parent process exited'));
  const url = await server.listen();
  console.log(`moe-server listening on ${url}`);
  server.prepared.then(
    (report) => {
      console.log(`moe-server ready: ${[...report.layers.map((l) => l.id), ...report.models.map((m) => `model ${m.id}`)].join(', ')} on ${report.backend.name} (${report.backend.engine})`);
      for (const m of report.models) console.log(`moe-server: model ${m.id} (${m.format}): ${modelMemoryLine(m)}`);
    },
    async (err: unknown) => {
      console.error(`moe-server: preparing the layers or models failed: ${errorMessage(err)}`);
      await server.close().catch(() => undefined);
      process.exit(1);
    },
  );
}

main().catch((err: unknown) => {
  console.error(`moe-server: ${errorMessage(err)}`);
  process.exit(1);
});

/** Where a loaded model's bytes live, for the start-up log. */
function modelMemoryLine(m: ModelInfo): string {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  return `weights ${gib(m.weightBytes)} as stored, backend holds ${gib(m.backendBytes)}, host ${gib(m.hostBytes)}; process peak RSS ${gib(m.peakRssBytes)}`;
}
