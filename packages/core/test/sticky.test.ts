/**
 * Sticky routing's decisions without processes: what the supervisor reads of a request line, and which worker a
 * connection goes to (placement.ts takes the worker list through functions, its declared seam; the handles here are
 * plain objects with the fields it reads). The end-to-end behaviour with real workers is test/socket-io.e2e.test.ts.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, resolveOptions } from '../src/index.js';
import { Placement } from '../src/primary/sticky/placement.js';
import type { StickyMode } from '../src/settings/connections.js';
import { pidOfSession, requestLineComplete, sessionIdOf, startsWithTls } from '../src/primary/sticky/request-line.js';
import type { WorkerHandle } from '../src/primary/workers/handle.js';

describe('the request line', () => {
  it("finds engine.io's sid in the query string, and nothing in a request without one", () => {
    expect(sessionIdOf(Buffer.from('GET /socket.io/?EIO=4&transport=polling&sid=abc.XYZ-_1 HTTP/1.1\r\nHost: a\r\n'))).toBe('abc.XYZ-_1');
    expect(sessionIdOf(Buffer.from('POST /socket.io/?sid=s1&EIO=4 HTTP/1.1\r\n'))).toBe('s1');
    expect(sessionIdOf(Buffer.from('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n'))).toBeUndefined();
    expect(sessionIdOf(Buffer.from('GET /health HTTP/1.1\r\n'))).toBeUndefined();
    expect(sessionIdOf(Buffer.from('GET /x?sid= HTTP/1.1\r\n'))).toBeUndefined();
    expect(sessionIdOf(Buffer.from(''))).toBeUndefined();
  });

  it('is complete at its line feed, or at 8 KiB without one', () => {
    expect(requestLineComplete(Buffer.from('GET /?sid=a HT'))).toBe(false);
    expect(requestLineComplete(Buffer.from('GET /?sid=a HTTP/1.1\r\n'))).toBe(true);
    expect(requestLineComplete(Buffer.alloc(8 * 1024, 'a'))).toBe(true);
  });

  it('takes a connection that opens with a TLS handshake as complete at once: there is no request line to wait for', () => {
    const clientHello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
    expect(startsWithTls(clientHello)).toBe(true);
    expect(requestLineComplete(clientHello)).toBe(true);
    expect(startsWithTls(Buffer.from('GET /socket.io/?EIO=4 HTTP/1.1'))).toBe(false);
    expect(requestLineComplete(Buffer.from('GET /socket.io/?EIO=4 HTTP/1.1'))).toBe(false);
  });

  it("reads the worker pid manageSocketIo() puts in front of a session id", () => {
    expect(pidOfSession(`${(4242).toString(36)}.Abc_-1`)).toBe(4242);
    expect(pidOfSession('Abc_-1xyz')).toBeUndefined();
    expect(pidOfSession('.abc')).toBeUndefined();
  });
});

type FakeState = 'starting' | 'ready' | 'stopping' | 'exited';

function worker(id: number, pid: number, state: FakeState = 'ready'): WorkerHandle {
  const handle = Object.assign(new EventEmitter(), { id, pid, state });
  Object.defineProperty(handle, 'isAlive', { get: () => handle.state !== 'exited' });
  return handle as unknown as WorkerHandle;
}

function placement(mode: StickyMode, workers: WorkerHandle[]): Placement {
  return new Placement(
    mode,
    () => workers.filter((handle) => handle.state === 'ready'),
    (pid) => workers.find((handle) => handle.pid === pid && handle.isAlive),
  );
}

const setState = (handle: WorkerHandle, state: FakeState) => ((handle as unknown as { state: FakeState }).state = state);

describe('placement', () => {
  it('sid: a reported session goes to its worker, draining or not; new sessions go round-robin to ready workers only', () => {
    const [one, two, three] = [worker(1, 101), worker(2, 102), worker(3, 103, 'starting')];
    const table = placement('sid', [one!, two!, three!]);
    const fresh = Array.from({ length: 4 }, () => table.place(undefined, '127.0.0.1')!.id);
    expect(fresh.sort()).toEqual([1, 1, 2, 2]);
    table.sessionOpened(one!, 's1');
    setState(one!, 'stopping');
    expect(table.place('s1', '127.0.0.1')).toBe(one);
    expect(Array.from({ length: 3 }, () => table.place(undefined, '127.0.0.1')!.id)).toEqual([2, 2, 2]);
    table.sessionClosed(one!, 's1');
    expect(table.place('s1', '127.0.0.1')).toBe(two);
    // Once its cleanup is over the worker is about to be disconnected: no socket is handed to it any more.
    table.sessionOpened(one!, 's3');
    Object.assign(one!, { cleanupOutcome: { durationMs: 1, failures: 0 } });
    expect(table.place('s3', '127.0.0.1')).toBe(two);
    expect(table.place(`${(101).toString(36)}.abc`, '127.0.0.1')).toBe(two);
  });

  it("sid: a session not yet reported is found by its id's pid; a dead worker's sessions are forgotten at once", () => {
    const [one, two] = [worker(1, 101), worker(2, 102)];
    const table = placement('sid', [one!, two!]);
    expect(table.place(`${(102).toString(36)}.abc`, '127.0.0.1')).toBe(two);
    table.sessionOpened(two!, 's2');
    setState(two!, 'exited');
    table.forget(two!);
    expect(table.sessions).toBe(0);
    expect(table.place('s2', '127.0.0.1')).toBe(one);
  });

  it('sid, a connection whose request line cannot be read (TLS): placed by its address, as under ip', () => {
    const [one, two] = [worker(1, 101), worker(2, 102)];
    const table = placement('sid', [one!, two!]);
    const addresses = Array.from({ length: 16 }, (_, index) => `10.0.0.${index}`);
    const first = addresses.map((address) => table.place(undefined, address, true));
    expect(new Set(first).size).toBe(2);
    expect(addresses.map((address) => table.place(undefined, address, true))).toEqual(first);
  });

  it('ip: an address keeps its worker; a new session from an address whose worker drains is placed on a ready one', () => {
    const [one, two] = [worker(1, 101), worker(2, 102)];
    const table = placement('ip', [one!, two!]);
    const addresses = Array.from({ length: 16 }, (_, index) => `10.0.0.${index}`);
    const first = addresses.map((address) => table.place(undefined, address));
    expect(new Set(first).size).toBe(2);
    expect(addresses.map((address) => table.place('any', address))).toEqual(first);
    const address = addresses[first.indexOf(one)]!;
    setState(one!, 'stopping');
    expect(table.place('old-session', address)).toBe(one);
    expect(table.place(undefined, address)).toBe(two);
    expect(table.place('new-session', address)).toBe(two);
  });
});

describe('the sticky option', () => {
  it('takes sid or ip, and refuses listen beside it', () => {
    expect(resolveOptions({ entry: 'app.js', sticky: 'sid' }).sticky).toBe('sid');
    expect(resolveOptions({ entry: 'app.js' }).sticky).toBeUndefined();
    expect(() => resolveOptions({ entry: 'app.js', sticky: 'cookie' as 'sid' })).toThrow(InvalidOptionError);
    expect(() => resolveOptions({ entry: 'app.js', sticky: 'ip', listen: ['3000'] })).toThrow(/sticky routing without listen/);
  });
});
