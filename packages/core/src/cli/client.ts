/** The client commands: `zdt reload`, `scale`, `upgrade`, `status` and `stop`, each one request over the control socket. */
import path from 'node:path';
import { ConfigError, RequestsCutError, UsageError } from '../errors.js';
import { logicalWorkingDirectory, parseDuration } from '../options.js';
import type { CutReport, RolloutResult, ScaleResult, StopResult } from '../primary/supervisor.js';
import { sendControlCommand, type ControlRequest } from '../primary/control/server.js';
import { describeServing } from '../primary/rollout/rollout.js';
import { nodeBinaryProblem } from '../primary/upgrade/handover.js';
import { readFlag } from '../config.js';
import { parseFlags, type FlagSpec } from './arguments.js';
import { findControlSocket, otherConfiguration, unloadedWarning, type FoundControl, type UnloadedConfiguration } from './control-lookup.js';
import { HELP, type Command } from './help.js';
import { describeCuts, EXIT_CUT, print } from './output.js';
import { formatStatus, type CliStatus, type UpgradeResult } from './status-format.js';

/** Error lines a client exits 2 for: the request itself (or the configuration it re-read) was bad; nothing was done. */
export const BAD_INPUT_CODES = new Set(['ERR_ZDT_USAGE', 'ERR_ZDT_INVALID_OPTION', 'ERR_ZDT_CONFIG', 'ERR_ZDT_LISTEN', 'ERR_ZDT_PID_FILE']);

/**
 * The client commands share one shape: flags, --help, one control request
 * with progress printed as it arrives, exit 1 with the supervisor's reason
 * (2 when it says the input was bad).
 */
async function controlCommand(
  argv: string[],
  command: Exclude<Command, 'main' | 'start'>,
  onResult: (data: unknown, json: boolean) => string | { cut: RequestsCutError; summary: string },
  toRequest: (positionals: string[], values: Record<string, unknown>) => ControlRequest = () =>
    ({ command }) as ControlRequest,
): Promise<number> {
  const flags: FlagSpec = { control: { type: 'string' }, config: { type: 'string' } };
  if (command === 'status') flags.json = { type: 'boolean' };
  if (command === 'upgrade') Object.assign(flags, { node: { type: 'string' }, timeout: { type: 'string' } });
  if (command === 'reload') flags.canary = { type: 'string' };
  const { values, positionals } = parseFlags(argv, flags, command === 'scale');
  if (values.help) {
    print(HELP[command]);
    return 0;
  }
  const request = toRequest(positionals, values);
  const found = await findControlSocket(values as { control?: unknown; config?: unknown }, logicalWorkingDirectory());
  if (found.unloaded) {
    process.stderr.write(unloadedWarning(found));
    // Without the file, the socket found may be another app's: change nothing there unless it runs this file.
    if (command !== 'status') await checkSameConfiguration(found, found.unloaded);
  }
  const response = await sendControlCommand(found.path, request, (progress) => print(progress.message));
  if (command === 'status' && found.unloaded && response.type === 'result') {
    const other = otherConfiguration(found.unloaded, response.data);
    if (other !== undefined) process.stderr.write(`zdt: warning: the supervisor on ${found.path} runs ${other}: it may be another app's\n`);
  }
  if (response.type === 'error') {
    process.stderr.write(`zdt: ${response.code}: ${response.message}\n`);
    return BAD_INPUT_CODES.has(response.code) ? 2 : 1;
  }
  return report(onResult(response.data, values.json === true));
}

/** Prints a command's summary line; when requests were cut, the error too, and the exit status is not 0. */
export function report(result: string | { cut: RequestsCutError; summary: string }): number {
  if (typeof result === 'string') {
    print(result);
    return 0;
  }
  print(result.summary);
  process.stderr.write(`zdt: ${result.cut.code}: ${result.cut.message}\n`);
  return EXIT_CUT;
}

/** Refuses (exit 2, nothing done) when the supervisor found without the broken file was not started with it. */
async function checkSameConfiguration(found: FoundControl, unloaded: UnloadedConfiguration): Promise<void> {
  const status = await sendControlCommand(found.path, 'status');
  const other = status.type === 'result' ? otherConfiguration(unloaded, status.data) : `an unknown configuration (${status.code}: ${status.message})`;
  if (other === undefined) return;
  const pid = status.type === 'result' ? ` (pid ${(status.data as { pid?: unknown }).pid})` : '';
  throw new ConfigError(
    unloaded.error.file,
    undefined,
    `does not load, and the supervisor${pid} on ${found.path} runs ${other}, so it may be another app's: nothing was done; pass --control PATH to act on it`,
    { cause: unloaded.error },
  );
}

/** The summary line, and when requests were cut at a drain deadline, the error that says which. */
export function withCuts(what: Parameters<typeof describeCuts>[0], summary: string, cuts: CutReport[] | undefined): string | { cut: RequestsCutError; summary: string } {
  if (cuts === undefined || cuts.length === 0) return summary;
  return { summary, cut: new RequestsCutError(describeCuts(what, cuts), cuts) };
}

export const reload = (argv: string[]) =>
  controlCommand(
    argv,
    'reload',
    (data) => {
      const result = data as RolloutResult;
      // What serves is read from the slots at the end, not assumed: a new worker that crashed since is restarting.
      const serving = result.serving.every((worker) => worker.generation === result.generation)
        ? `generation ${result.generation} serves on every worker`
        : describeServing(result.serving);
      const canary = result.canary ? ` after its canary (${result.canary.message})` : '';
      const summary = `reload done: ${serving}, ${result.replaced.length} worker(s) replaced in ${result.durationMs}ms${canary}`;
      return withCuts('reload', summary, result.cuts);
    },
    (_positionals, values) => {
      if (typeof values.canary !== 'string') return { command: 'reload' };
      try {
        return { command: 'reload', canaryMs: parseDuration(values.canary, '--canary') };
      } catch {
        throw new UsageError(`--canary: expected a duration like 500ms, 30s, 2m (0 for none), received ${JSON.stringify(values.canary)}`);
      }
    },
  );

export const scale = (argv: string[]) =>
  controlCommand(
    argv,
    'scale',
    (data) => {
      const result = data as ScaleResult;
      const count = `${result.workers} worker${result.workers === 1 ? '' : 's'}`;
      const ids = (list: number[]) => `worker${list.length === 1 ? '' : 's'} ${list.join(', ')}`;
      const summary =
        result.added.length > 0
          ? `scaled to ${count}: added ${ids(result.added)}`
          : result.removed.length > 0
            ? `scaled to ${count}: removed ${ids(result.removed)} (drained)`
            : `already ${count}: nothing to do`;
      return withCuts('scale', summary, result.cuts);
    },
    (positionals) => {
      if (positionals.length !== 1) {
        throw new UsageError(positionals.length === 0 ? 'missing N: the number of workers wanted' : `unexpected argument ${JSON.stringify(positionals[1])}`);
      }
      const { workers } = readFlag('N', 'workers', positionals[0]!, logicalWorkingDirectory());
      return { command: 'scale', workers: workers! };
    },
  );

export const upgrade = (argv: string[]) =>
  controlCommand(
    argv,
    'upgrade',
    (data) => {
      const result = data as UpgradeResult;
      const node = result.from.node === result.to.node ? `node ${result.to.node}` : `node ${result.from.node} -> ${result.to.node}`;
      const workers = result.workers.map((worker) => worker.pid).join(', ');
      const summary = `upgrade done: supervisor pid ${result.from.pid} -> ${result.to.pid}, ${node}, ${result.workers.length} new worker(s) serving (pids ${workers}) on ${result.listeners.map((listener) => listener.address).join(', ')}; the old workers drained, in ${result.durationMs}ms`;
      return withCuts('upgrade', summary, result.cuts);
    },
    (positionals, values) => {
      if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
      const request: ControlRequest = { command: 'upgrade' };
      if (typeof values.node === 'string') {
        const node = path.resolve(values.node);
        if (nodeBinaryProblem(node) !== undefined) {
          throw new UsageError(`--node: expected an executable Node.js binary, received ${JSON.stringify(values.node)}`);
        }
        request.node = node;
      }
      if (typeof values.timeout === 'string') {
        try {
          request.timeoutMs = parseDuration(values.timeout, '--timeout');
        } catch {
          throw new UsageError(`--timeout: expected a duration like 500ms, 30s, 2m, received ${JSON.stringify(values.timeout)}`);
        }
        if (request.timeoutMs === 0) throw new UsageError(`--timeout: expected more than 0, received ${JSON.stringify(values.timeout)}`);
      }
      return request;
    },
  );

export const status = (argv: string[]) =>
  controlCommand(argv, 'status', (data, json) => (json ? JSON.stringify(data, null, 2) : formatStatus(data as CliStatus)));

export const stop = (argv: string[]) =>
  controlCommand(argv, 'stop', (data) => {
    return withCuts('stop', 'stopped', (data as StopResult | undefined)?.cuts);
  });

