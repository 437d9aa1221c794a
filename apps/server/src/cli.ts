#!/usr/bin/env node
/**
 * `moe-server`: reads a JSON config file and flags (flags win), starts the server, and stops it
 * gracefully on SIGTERM/SIGINT (stop accepting, answer every accepted request, exit 0).
 */
import { errorMessage } from '@moe-runtime/core';
import { configFromArgs } from './cli-args.js';
import type { ServerConfig } from './config.js';
import type { ModelInfo } from './generation/generation-protocol.js';
import { createServer } from './http/server.js';

async function main(): Promise<void> {
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
    console.log(`moe-server: ${signal}: draining (no new requests; finishing accepted ones)`);
    server.close().then(
      () => {
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
