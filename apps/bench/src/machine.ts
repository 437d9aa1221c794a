/** Facts about the machine and software a result was measured on, stored with every result. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, arch, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The machine a run was measured on. */
export interface MachineFacts {
  readonly cpuModel: string;
  /** Logical cores the OS reports. */
  readonly cores: number;
  /** Cores this process may use. */
  readonly availableParallelism: number;
  readonly totalMemoryGb: number;
  readonly platform: string;
  readonly node: string;
  /** 1-minute load average when the run started: above the core count means a shared machine. */
  readonly loadAverageAtStart: number;
  /** Version of each package that took part (core, bench, every backend package that imported). */
  readonly packages: Readonly<Record<string, string>>;
  /** Git commit of the checkout, when known. */
  readonly gitCommit?: string;
  /**
   * Size of the last-level (highest-level) CPU cache as the OS reports it (Linux sysfs), when
   * known: a decode scenario whose weights fit in it would measure the cache, not memory.
   */
  readonly lastLevelCacheBytes?: number;
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Parses a sysfs cache size such as `32768K` or `1M`; undefined when it does not parse. */
export function parseCacheSize(text: string): number | undefined {
  const m = /^\s*(\d+)\s*([KMG]?)\s*$/i.exec(text);
  return m ? Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()] : undefined;
}

/** The highest-level cache of cpu0 in `/sys/devices/system/cpu/cpu0/cache` (Linux), or undefined. */
export function lastLevelCacheBytes(dir = '/sys/devices/system/cpu/cpu0/cache'): number | undefined {
  let best: { level: number; bytes: number } | undefined;
  try {
    for (const entry of readdirSync(dir).filter((e) => /^index\d+$/.test(e))) {
      const level = Number(readFileSync(join(dir, entry, 'level'), 'utf8'));
      const bytes = parseCacheSize(readFileSync(join(dir, entry, 'size'), 'utf8'));
      if (bytes !== undefined && Number.isFinite(level) && (!best || level > best.level || (level === best.level && bytes > best.bytes))) best = { level, bytes };
    }
  } catch {
    // not Linux, or no sysfs: unknown
  }
  return best?.bytes;
}

/** The version in the package.json of `pkg` as this module resolves it, or undefined. */
export function packageVersion(pkg: string): string | undefined {
  try {
    // createRequire rather than import.meta.resolve: the latter is missing under vitest.
    let dir = dirname(createRequire(import.meta.url).resolve(pkg));
    for (let i = 0; i < 6; i++) {
      try {
        const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (json.name === pkg) return json.version;
      } catch {
        // no package.json at this level: keep walking up
      }
      dir = dirname(dir);
    }
  } catch {
    // not resolvable
  }
  return undefined;
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dirname(fileURLToPath(import.meta.url)), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Collects the machine facts; `packages` lists the packages whose versions to record. */
export function machineFacts(packages: readonly string[]): MachineFacts {
  const versions: Record<string, string> = {};
  const own = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  versions[own.name] = own.version;
  for (const pkg of packages) {
    const v = packageVersion(pkg);
    if (v) versions[pkg] = v;
  }
  const cpuList = cpus();
  return {
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    availableParallelism: availableParallelism(),
    totalMemoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    platform: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    loadAverageAtStart: Math.round(loadavg()[0] * 100) / 100,
    packages: versions,
    gitCommit: gitCommit(),
    lastLevelCacheBytes: lastLevelCacheBytes(),
  };
}
