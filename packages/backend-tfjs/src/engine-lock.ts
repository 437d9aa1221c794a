/**
 * tfjs runs one engine per process: `tf.setBackend` is global, and tensors made on one engine
 * are silently moved to another when used there. This module records which engine the live
 * `tfjs` backend instances hold, so a second instance cannot switch the engine under the first.
 *
 * Policy (documented in the README): an instance fixes its engine when it is created; creating
 * an instance on a different engine while one is alive is a ConfigError; if other code switches
 * the engine in between, the instance's next call throws a BackendError (it never switches back
 * by itself, since that would in turn move the other code's tensors behind its back).
 */
import { BackendError, ConfigError } from '@moe-runtime/core';
import type { TfjsEngine } from './engine-name.js';
import { tf } from './tf.js';

let held: TfjsEngine | undefined;
let holders = 0;

/** Claims `engine` for a new instance; throws if live instances hold another one. */
export function claimEngine(engine: TfjsEngine): void {
  if (held !== undefined && held !== engine && holders > 0) {
    throw new ConfigError(
      'backend.options.engine',
      `tfjs runs one engine per process and ${holders} live 'tfjs' backend instance(s) use '${held}'; ` +
        `dispose them before creating one on '${engine}', or use engine '${held}'`,
    );
  }
  held = engine;
  holders++;
}

/** Releases one claim (at dispose). */
export function releaseEngine(): void {
  holders = Math.max(0, holders - 1);
  if (holders === 0) held = undefined;
}

/** The engine live instances hold, if any. */
export function heldEngine(): TfjsEngine | undefined {
  return holders > 0 ? held : undefined;
}

/** Throws a BackendError unless tfjs's active engine is still `engine`. */
export function assertActiveEngine(engine: TfjsEngine): void {
  const active = tf.getBackend();
  if (active !== engine) {
    throw new BackendError(
      `tfjs's active engine is '${active}' but this 'tfjs' backend was created on '${engine}': tf.setBackend is process-wide ` +
        `and some other code switched it. Call tf.setBackend('${engine}') again, or dispose this backend and create one on '${active}'`,
    );
  }
}
