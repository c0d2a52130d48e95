/**
 * The client end of the control socket (`zdt reload`, `status`, `stop`, `scale`, `upgrade`): checks the socket path
 * can be trusted, sends one request line, streams the progress lines, resolves with the result or error line.
 */
import net from 'node:net';
import path from 'node:path';
import { ControlPermissionError, ControlUnavailableError } from '../../errors.js';
import { checkControlDirectory, checkExistingSocket, checkSocketPathLength, describeUid, isMissingEntry } from './socket-path.js';
import type { ControlCommand, ControlRequest, ControlResponse } from './messages.js';

export function permissionError(socketPath: string, error: NodeJS.ErrnoException): ControlPermissionError {
  return new ControlPermissionError(socketPath, `${describeUid(process.getuid?.() ?? -1)} got ${error.code} on it`, { cause: error });
}

/**
 * Sends one command (a name, or a request such as `{ command: 'scale', workers: 3 }`)
 * to the supervisor at `socketPath`; calls `onProgress` for each progress line and
 * resolves with the final result or error line.
 * Before connecting, checks that the socket and every directory on its path
 * are the caller's own (ControlUntrustedError otherwise) and that the path fits
 * a Unix socket (ControlPathError). Rejects ControlPermissionError on EACCES or
 * EPERM, ControlUnavailableError when nobody answers there.
 */
export function sendControlCommand(
  socketPath: string,
  command: Exclude<ControlCommand, 'scale'> | ControlRequest,
  onProgress: (response: Extract<ControlResponse, { type: 'progress' }>) => void = () => {},
): Promise<Exclude<ControlResponse, { type: 'progress' }>> {
  const resolved = path.resolve(socketPath);
  try {
    checkSocketPathLength(resolved);
    checkControlDirectory(resolved);
    if (!checkExistingSocket(resolved)) {
      return Promise.reject(new ControlUnavailableError(resolved, { cause: new Error('no socket file there') }));
    }
  } catch (error) {
    // A missing directory just means no supervisor ever ran there.
    if (isMissingEntry(error)) {
      return Promise.reject(new ControlUnavailableError(resolved, { cause: error }));
    }
    return Promise.reject(error);
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect(resolved);
    let buffer = '';
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      outcome();
      socket.end();
    };
    socket.setEncoding('utf8');
    const request = (typeof command === 'string' ? { command } : command) as ControlRequest;
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        let response: ControlResponse;
        try {
          response = JSON.parse(line) as ControlResponse;
        } catch {
          continue;
        }
        if (response.type === 'progress') onProgress(response);
        else finish(() => resolve(response));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      finish(() =>
        reject(error.code === 'EACCES' || error.code === 'EPERM' ? permissionError(resolved, error) : new ControlUnavailableError(resolved, { cause: error })),
      );
    });
    socket.on('close', () => {
      finish(() => reject(new ControlUnavailableError(resolved, { cause: new Error('connection closed before an answer') })));
    });
  });
}
