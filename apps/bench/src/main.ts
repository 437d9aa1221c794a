/**
 * The `moe-bench` command: parses arguments (commander), loads backends through the registry,
 * validates every scenario up front, runs, prints the table, writes JSON/HTML and compares.
 * `main` returns the exit code instead of exiting, so tests call it in-process.
 *
 * Exit codes: 0 every case passed cross-validation; 1 a case failed (or nothing ran);
 * 2 bad arguments or an invalid scenario file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, listBackends, listRouters, MoeError, type BackendChoice } from '@moe-runtime/core';
import {
  checkKnownBackends,
  loadBackends,
  loadPlugins,
  parseBackendSpec,
  registeredBackendNames,
  type SkippedBackend,
} from './backends.js';
import { colorsFor, type Colors } from './colors.js';
import { compareResults, readResults, renderComparison } from './compare.js';
import { checkFootprint } from './footprint.js';
import { checkWritable } from './output-paths.js';
import { renderHtml } from './html-report.js';
import { renderMarkdown } from './markdown.js';
import { machineFacts } from './machine.js';
import type { BenchResults } from './record.js';
import { runBenchmarks, type RunnerHooks } from './runner.js';
import { renderTable } from './table.js';
import { describeLayer, parseScenario, withOverrides, type Scenario } from './scenario.js';
import { defaultScenarioDir, loadScenarioFile, QUICK_SCENARIO_JSON, resolveScenarios, scenarioFilesIn } from './scenario-files.js';

/** Where `main` writes; defaults to the process's streams. */
export interface MainIO {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

interface CliOptions {
  all?: boolean;
  large?: boolean;
  backends?: BackendChoice[];
  tokens?: number[];
  repeats?: number;
  warmup?: number;
  scenarioDir: string;
  json?: string;
  html?: string;
  markdown?: string;
  compare?: string;
  threshold: number;
  plugin: string[];
  progress: boolean;
  bandwidth: boolean;
  list?: boolean;
  validate?: boolean;
}

function intAtLeast(name: string, min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name}: expected an integer >= ${min}, got '${v}'`);
    return n;
  };
}

function percent(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative percentage, got '${v}'`);
  return n / 100;
}

function intList(v: string): number[] {
  const out = v.split(',').map((s) => Number(s.trim()));
  if (out.some((n) => !Number.isInteger(n) || n < 1)) throw new InvalidArgumentError(`expected a comma-separated list of positive integers, got '${v}'`);
  if (new Set(out).size !== out.length) throw new InvalidArgumentError(`expected distinct token counts, got '${v}'`);
  return out;
}

function backendList(v: string): BackendChoice[] {
  if (!v.split(',').some((s) => s.trim())) throw new InvalidArgumentError(`expected at least one backend name, got '${v}'`);
  try {
    return v.split(',').filter(Boolean).map((s) => parseBackendSpec(s.trim()));
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function buildProgram(io: MainIO): Command {
  return new Command('moe-bench')
    .description(
      'Benchmark MoE layers on every available backend and cross-validate every output against the float64 reference.\n' +
        'With no scenario: runs the embedded quick scenario (mixtral-mini shape, T=1,16) and writes an HTML report.',
    )
    .argument('[scenarios...]', 'scenario names (files <scenario-dir>/<name>.json) or paths to .json files')
    .option('-a, --all', 'run every scenario in the scenario folder (large ones only with --large)')
    .option('--large', 'with --all, include scenarios marked "large"')
    .option('-b, --backends <specs>', 'comma-separated backends: name or name:key=value[:key=value], e.g. cpu,tfjs:engine=cpu (default: every backend that initialises)', backendList)
    .option('-t, --tokens <list>', 'override the token counts, e.g. 1,16', intList)
    .option('-r, --repeats <n>', 'override timed repeats', intAtLeast('repeats', 1))
    .option('-w, --warmup <n>', 'override warm-up passes', intAtLeast('warmup', 0))
    .option('-d, --scenario-dir <dir>', 'folder of scenario files', defaultScenarioDir())
    .option('--json <file>', 'write the results (one record per scenario, backend, engine, T) as JSON')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('--markdown <file>', 'write the Markdown summary (every case, then decode GB/s against the measured bandwidth; for READMEs)')
    .option('--compare <old.json>', 'print the change against an earlier --json results file')
    .addOption(new Option('--threshold <percent>', 'p50 change in percent that counts as a regression in --compare').argParser(percent).default(0.1, '10'))
    .option('--plugin <module>', 'import a module first (e.g. one that registers a router or backend); repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--no-progress', 'no progress bar (it is shown only on a terminal, never under CI)')
    .option('--no-bandwidth', 'skip the read-bandwidth measurement at the end (the % of bandwidth columns stay empty)')
    .option('--list', 'list scenarios, routers and backends, then exit')
    .option('--validate', 'validate the scenario files, then exit')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
}

function write(file: string, text: string): string {
  const path = resolve(file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

/** JSON with NaN and Infinity written as null (JSON has neither). */
export function toJson(results: BenchResults): string {
  return `${JSON.stringify(results, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

function listing(dir: string, c: Colors): string {
  const lines = [c.bold(`Scenarios in ${dir}:`)];
  for (const file of scenarioFilesIn(dir)) {
    try {
      const s = loadScenarioFile(file);
      lines.push(`  ${s.name}${s.large ? c.yellow(' (large)') : ''}: ${describeLayer(s)}; T=${s.tokens.join(',')}`);
    } catch (err) {
      lines.push(c.red(`  ${(err as Error).message}`));
    }
  }
  lines.push(c.bold('Routers:'), ...listRouters().map((r) => `  ${r.name}: ${r.description ?? ''}`));
  lines.push(c.bold('Backends (registered):'), ...listBackends().map((b) => `  ${b.name} (priority ${b.priority}): ${b.description ?? ''}`));
  return lines.join('\n');
}

function progressHooks(io: MainIO, enabled: boolean): { hooks: RunnerHooks; stop(): void } {
  // A bar only on an interactive terminal: never in CI logs or when stderr is piped.
  if (!enabled || io.stderr.isTTY !== true || io.env.CI) return { hooks: {}, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { stream: io.stderr, format: '{bar} {percentage}% | {value}/{total} forward passes | {case}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let value = 0;
  return {
    hooks: {
      onStart: (total) => bar.start(total, 0, { case: '' }),
      onCase: (label) => bar.update(value, { case: label }),
      onForward: () => bar.update(++value),
      onPlannedDone: (planned) => {
        // Cases that stopped early on their time budget: jump to the planned count.
        value = Math.max(value, planned);
        bar.update(value);
      },
    },
    stop: () => bar.stop(),
  };
}

function selectScenarios(args: readonly string[], o: CliOptions, known: readonly string[]): { scenarios: Scenario[]; quick: boolean } {
  if (o.all) {
    const all = scenarioFilesIn(o.scenarioDir).map((f) => loadScenarioFile(f, known));
    return { scenarios: all.filter((s) => o.large || !s.large), quick: false };
  }
  if (args.length === 0) return { scenarios: [parseScenario(QUICK_SCENARIO_JSON)], quick: true };
  return { scenarios: resolveScenarios(args, o.scenarioDir, known), quick: false };
}

async function run(args: readonly string[], o: CliOptions, io: MainIO): Promise<number> {
  const out = colorsFor(io.stdout, io.env);
  const loads = await loadBackends();
  await loadPlugins(o.plugin.map((p) => (p.startsWith('.') || p.startsWith('/') ? resolve(p) : p)));
  const known = registeredBackendNames();
  if (o.list) {
    io.stdout.write(`${listing(o.scenarioDir, out)}\n`);
    return 0;
  }
  const { scenarios: selected, quick } = selectScenarios(args, o, known);
  if (o.validate) {
    const files = o.all || args.length ? selected : scenarioFilesIn(o.scenarioDir).map((f) => loadScenarioFile(f, known));
    io.stdout.write(`${files.length} scenario(s) valid: ${files.map((s) => s.name).join(', ')}\n`);
    return 0;
  }
  const importFailures: SkippedBackend[] = loads.filter((l) => l.status !== 'loaded').map((l) => ({ backend: l.pkg ?? l.backend, reason: `package did not import: ${l.reason}` }));
  if (o.backends) {
    try {
      checkKnownBackends(o.backends, 'backends');
    } catch (err) {
      const hint = importFailures.length ? ` (did not import: ${importFailures.map((f) => `${f.backend}: ${f.reason}`).join('; ')})` : '';
      if (err instanceof ConfigError) throw new ConfigError(err.field, `${err.message.slice(err.field.length + 2)}${hint}`);
      throw err;
    }
  }
  // Read the earlier results before running, so a bad path fails in a second, not after the run.
  const old = o.compare ? readResults(o.compare) : undefined;
  for (const [flag, file] of [['json', o.json], ['html', o.html], ['markdown', o.markdown]] as const) if (file) checkWritable(flag, file);
  const scenarios = selected.map((s) => withOverrides(s, { tokens: o.tokens, repeats: o.repeats, warmup: o.warmup }));
  for (const s of scenarios) checkFootprint(s, totalmem());
  const backends: BackendChoice[] = o.backends ?? known;
  const machine = machineFacts(['@moe-runtime/core', ...loads.flatMap((l) => (l.status === 'loaded' && l.pkg ? [l.pkg] : []))]);
  const progress = progressHooks(io, o.progress);
  let results: BenchResults;
  try {
    results = await runBenchmarks({ scenarios, backends, forceBackends: o.backends !== undefined, skipped: importFailures, machine, measureBandwidth: o.bandwidth }, progress.hooks);
  } finally {
    progress.stop();
  }
  io.stdout.write(`${renderTable(results, out)}\n`);
  const used = new Set(results.records.map((r) => r.backend));
  const summary = results.passed
    ? out.green(`all ${results.records.length} case(s) passed cross-validation on ${[...used].join(', ')}`)
    : out.red(out.bold(results.records.length ? `${results.records.filter((r) => !r.passed).length} case(s) FAILED cross-validation` : 'nothing ran: no backend initialised'));
  io.stdout.write(`${summary}\n`);
  if (old && o.compare) io.stdout.write(`${renderComparison(compareResults(old, results, o.threshold), out, o.compare)}\n`);
  const jsonFile = o.json ?? (quick ? join(tmpdir(), 'moe-bench', 'results.json') : undefined);
  const htmlFile = o.html ?? (quick ? join(tmpdir(), 'moe-bench', 'report.html') : undefined);
  if (jsonFile) io.stdout.write(`JSON results: ${write(jsonFile, toJson(results))}\n`);
  if (o.markdown) io.stdout.write(`Markdown summary: ${write(o.markdown, renderMarkdown(results))}\n`);
  if (htmlFile) io.stdout.write(`HTML report: ${write(htmlFile, renderHtml(results))}\n`);
  return results.passed ? 0 : 1;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: MainIO = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const program = buildProgram(io);
  const err = colorsFor(io.stderr, io.env);
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  const o = program.opts<CliOptions>();
  try {
    return await run(program.args, o, io);
  } catch (e) {
    if (e instanceof MoeError) {
      io.stderr.write(`${err.red(`moe-bench: ${e.message}`)}\n`);
      return 2;
    }
    io.stderr.write(`${err.red(`moe-bench: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)}\n`);
    return 1;
  }
}
