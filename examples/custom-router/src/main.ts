#!/usr/bin/env node
/**
 * `pnpm start [backend...]`: runs the custom-router example on each named backend (default
 * `cpu`; `all` = every backend package this example depends on, or otherwise registered). Exits 1 when a run fails its reference check.
 */
import '@moe-runtime/backend-cpu';
import { disposeAllBackends, errorMessage, listBackends } from '@moe-runtime/core';
import { formatResult, loadBackend, runExample } from './run-example.js';

/** The backend packages this example depends on (`all` loads each, then runs every registered one). */
const BACKEND_PACKAGES = ['cpu', 'gpujs', 'onnx', 'tfjs'];

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes('all')) for (const name of BACKEND_PACKAGES) await loadBackend(name);
  const names = args.length === 0 ? ['cpu'] : args.includes('all') ? listBackends().map((b) => b.name) : args;
  let failed = 0;
  for (const name of names) {
    try {
      const result = await runExample(name);
      console.log(formatResult(result) + '\n');
      if (!result.check.passed) failed++;
    } catch (err) {
      console.error(`backend ${name}: ${errorMessage(err)}\n`);
      failed++;
    }
  }
  await disposeAllBackends();
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code));
