/**
 * A worker-side fixture run as a real process (standalone, or forked with an IPC channel), read through the JSON-line
 * events it prints. Processes, requests and load come from the shared testkit.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, within, type Exit, type StartedProcess } from '@zero-downtime/testkit';

const here = path.dirname(fileURLToPath(import.meta.url));
/** `ws` and `express` come from the private e2e package, which already depends on them. */
export const requireFromTestPackage = createRequire(path.join(here, '../../../test/package.json'));

export interface FixtureEvent {
  event: string;
  pid: number;
  [key: string]: unknown;
}

/** Matches the IPC events carrying the protocol message `{ zdt: verb }`. */
export const ipcVerb = (verb: string) => (event: FixtureEvent) => (event.message as { zdt?: string } | undefined)?.zdt === verb;

export class Fixture {
  readonly process: StartedProcess;
  readonly events: FixtureEvent[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(script: string, options: { env?: Record<string, string>; ipc?: boolean } = {}) {
    const file = path.resolve(here, 'fixtures', script);
    // Without ipc the fixture runs as it would alone (Kubernetes, systemd, Docker): no channel at all.
    this.process = startProcess(options.ipc ? file : process.execPath, options.ipc ? [] : [file], {
      ipc: options.ipc,
      env: { ...process.env, ZDT_SUPERVISED: '', ...options.env },
      what: script,
      onLine: (line, stream) => {
        if (stream !== 'stdout' || !line.startsWith('{')) return;
        this.events.push(JSON.parse(line) as FixtureEvent);
        this.notify();
      },
    });
    // IPC messages from the fixture join the event list as { event: 'ipc', message }.
    this.child.on('message', (message) => {
      this.events.push({ event: 'ipc', pid: this.pid, message });
      this.notify();
    });
    this.child.once('exit', () => this.notify());
  }

  get child() {
    return this.process.child;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  private notify(): void {
    for (const wake of this.waiters) wake();
  }

  /** Resolves with the first event matching; rejects after `timeoutMs` or if the process exits first. */
  waitForEvent(name: string, match: (event: FixtureEvent) => boolean = () => true, timeoutMs = 15_000): Promise<FixtureEvent> {
    let check = (): void => {};
    const found = new Promise<FixtureEvent>((resolve, reject) => {
      check = () => {
        const event = this.events.find((candidate) => candidate.event === name && match(candidate));
        if (event) resolve(event);
        else if (this.child.exitCode !== null || this.child.signalCode !== null) reject(new Error(`fixture exited before "${name}"; output:\n${this.process.output.join('\n')}`));
      };
      this.waiters.add(check);
      check();
    });
    return within(found, timeoutMs, `"${name}" event (events: ${JSON.stringify(this.events)})`).finally(() => this.waiters.delete(check));
  }

  async port(): Promise<number> {
    const listening = await this.waitForEvent('listening');
    return listening.port as number;
  }

  /** Waits for the exit, bounded: a process that does not exit fails the test instead of hanging it. */
  waitForExit(timeoutMs = 20_000): Promise<Exit> {
    return within(this.process.exited, timeoutMs, `exit of pid ${this.pid}`);
  }
}
