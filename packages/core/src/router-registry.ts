/**
 * The router registry: routers are registered by name with a factory, so user code adds a
 * routing rule in a few lines and every config (benchmark scenario, server, model) can name it.
 */
import { ConfigError, UnknownNameError } from './errors.js';
import type { RouterSpec } from './layer-config.js';
import type { Router, RouterContext } from './router.js';
import type { OptionsSchema } from './router-options.js';

/** Builds a router from validated-by-the-factory JSON options and the layer context. */
export type RouterFactory = (options: Readonly<Record<string, unknown>>, context: RouterContext) => Router;

/** Optional facts about a router, shown by listings and docs. */
export interface RouterInfo {
  /** One line: the rule and where it comes from. */
  readonly description?: string;
  /** Its options, for listings and docs (the factory still validates). */
  readonly options?: OptionsSchema;
  /** True when the router needs token ids. */
  readonly needsTokenIds?: boolean;
  /**
   * Whether a token's routing can depend on the other tokens of its batch (given the router's
   * options): true for capacity-limited routers (capacity grows with the batch and tokens drop
   * in batch order), expert choice (experts pick tokens across the batch), a noise draw made
   * per batch. A server batches requests of different callers together only where this is
   * false, so declare it for such a router. Default false (a per-token rule).
   */
  readonly batchDependent?: boolean | ((options: Readonly<Record<string, unknown>>) => boolean);
}

/** A registered router. */
export interface RouterDefinition extends RouterInfo {
  readonly name: string;
  readonly factory: RouterFactory;
}

const routers = new Map<string, RouterDefinition>();

/**
 * Registers a router under `name`. Re-registering a name replaces the earlier definition
 * (so a user may override a built-in deliberately).
 */
export function registerRouter(name: string, factory: RouterFactory, info: RouterInfo = {}): void {
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/i.test(name)) {
    throw new ConfigError('router.name', `expected a name of letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
  }
  if (typeof factory !== 'function') throw new ConfigError('router.factory', `expected a function for router '${name}'`);
  routers.set(name, { name, factory, ...info });
}

/** Removes a router (mostly for tests). Returns whether it existed. */
export function unregisterRouter(name: string): boolean {
  return routers.delete(name);
}

/** The definition of a registered router, or an UnknownNameError listing the registered ones. */
export function getRouterDefinition(name: string): RouterDefinition {
  const def = routers.get(name);
  if (!def) throw new UnknownNameError('router', name, [...routers.keys()].sort());
  return def;
}

/** Every registered router, sorted by name. */
export function listRouters(): RouterDefinition[] {
  return [...routers.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Whether the router a spec names (with its options) routes a token differently depending on
 * the rest of its batch ({@link RouterInfo.batchDependent}). UnknownNameError for an unknown name.
 */
export function isBatchDependent(spec: RouterSpec): boolean {
  const dependent = getRouterDefinition(spec.name).batchDependent;
  return typeof dependent === 'function' ? dependent(spec.options ?? {}) : dependent === true;
}

/** Builds the router a spec names. */
export function createRouter(spec: RouterSpec, context: RouterContext): Router {
  return getRouterDefinition(spec.name).factory(spec.options ?? {}, context);
}
