/**
 * The server-sent events load client: N clients each hold one `GET path` with `Accept: text/event-stream`, as
 * EventSource does, and count the events received. A stream the server ends properly (the response complete) is
 * opened again at once; one whose connection closes before the response ended is cut. The answer must be 200 with a
 * `text/event-stream` content type.
 *
 * On node:http, not on an EventSource (undici's, or the eventsource package): an EventSource reconnects by itself
 * after a proper end and after a cut alike and reports both as one 'error' event, and telling them apart is this
 * client's job.
 */
import http from 'node:http';
import { startLongLived, type Ending, type LongLivedLoad, type LongLivedOptions, type LongLivedTarget } from './long-lived.js';
import { reasonOf } from './routes.js';


function connection(target: LongLivedTarget, client: number): Promise<Ending> {
  const { host, port, path, requestTimeoutMs, counts } = target;
  return new Promise((resolve) => {
    let settled = false;
    let stopping = false;
    let lastError: string | undefined;
    let answered = false;
    const finish = (ending: Ending) => {
      if (settled) return;
      settled = true;
      unsubscribe();
      clearTimeout(openTimer);
      request.destroy();
      resolve(ending);
    };
    const headers = { accept: 'text/event-stream', 'cache-control': 'no-cache' };
    const request = http.get({ host, port, path, agent: false, headers }, (response) => {
      answered = true;
      clearTimeout(openTimer);
      const type = String(response.headers['content-type'] ?? '');
      if (response.statusCode !== 200) return finish({ ok: false, reason: `status ${response.statusCode}` });
      if (!type.startsWith('text/event-stream')) return finish({ ok: false, reason: `not an event stream (content-type ${type || 'none'})` });
      counts.answered(client);
      let tail = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => {
        const events = (tail + text).split(/\r?\n\r?\n/);
        tail = events.pop()!;
        for (let index = 0; index < events.length; index += 1) counts.answered(client);
      });
      response.on('error', (error) => (lastError = reasonOf(error)));
      response.on('close', () => {
        if (stopping) finish({ ok: true, reconnect: false });
        else if (response.complete) finish({ ok: true, reconnect: true });
        else finish({ ok: false, reason: `cut (${lastError ?? 'closed before the stream ended'})` });
      });
    });
    request.on('error', (error) => {
      lastError = reasonOf(error);
      if (stopping) finish({ ok: true, reconnect: false });
      else if (!answered) finish({ ok: false, reason: lastError });
    });
    const openTimer = setTimeout(() => finish({ ok: false, reason: 'timeout (no answer)' }), requestTimeoutMs);
    const unsubscribe = counts.onStop(() => {
      stopping = true;
      if (answered) request.destroy();
      else finish({ ok: true, reconnect: false });
    });
  });
}

export function startEventStreamLoad(options: LongLivedOptions): LongLivedLoad {
  return startLongLived(options, connection);
}
