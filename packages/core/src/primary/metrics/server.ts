/**
 * The metrics endpoint: `GET /metrics` in the Prometheus text format, served by the supervisor itself, so it
 * outlives every worker. Nothing else is served; it listens only where it is told to (loopback in the examples).
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import util from 'node:util';
import { hostPort } from '../../host-port.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class MetricsServer {
  private readonly server: http.Server;

  constructor(private readonly scrape: () => Promise<string>) {
    this.server = http.createServer((request, response) => void this.answer(request, response));
    // Scrapers keep connections alive; they must never hold the supervisor open at its stop.
    this.server.keepAliveTimeout = 5_000;
  }

  private async answer(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const pathname = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (pathname !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: the metrics are at /metrics\n');
      return;
    }
    try {
      const text = await this.scrape();
      response.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(request.method === 'HEAD' ? undefined : text);
    } catch (error) {
      response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${(error as Error).message}\n`);
    }
  }

  private descriptor: number | undefined;

  /** The listening descriptor (handed to the next supervisor by `zdt upgrade`). */
  get fd(): number | undefined {
    return this.server.listening ? this.descriptor : undefined;
  }

  /** listen(), with an error that names the address, and the address logged once bound. */
  async open(address: ListenAddress, inheritedFd: number | undefined, log: { info: (data: object, message: string) => void }): Promise<ListenAddress> {
    let bound: ListenAddress;
    try {
      bound = await this.listen(address, inheritedFd);
    } catch (error) {
      throw new Error(`the metrics endpoint could not listen on ${address.host}:${address.port}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    log.info(bound, `metrics on http://${hostPort(bound.host, bound.port)}/metrics`);
    return bound;
  }

  /**
   * Listens on `address`, or on the listening socket already open at `inheritedFd` (the previous supervisor's).
   * Bound through node's own server handle so the descriptor is known and can be handed on.
   */
  listen(address: ListenAddress, inheritedFd?: number): Promise<ListenAddress> {
    return new Promise((resolve, reject) => {
      const create = (net as unknown as { _createServerHandle?: (...args: Array<string | number | null | undefined>) => { fd: number } | number })._createServerHandle;
      let handle: { fd: number } | number | undefined;
      if (typeof create === 'function') {
        handle = inheritedFd === undefined ? create(address.host, address.port, net.isIPv6(address.host) ? 6 : 4) : create(null, null, null, inheritedFd);
        if (typeof handle === 'number') {
          const error = new Error(`listen ${util.getSystemErrorName(handle)} ${address.host}:${address.port}`) as NodeJS.ErrnoException;
          error.code = util.getSystemErrorName(handle);
          reject(error);
          return;
        }
        this.descriptor = handle.fd;
      }
      this.server.once('error', reject);
      const onListening = () => {
        this.server.off('error', reject);
        this.server.unref();
        const bound = this.server.address() as AddressInfo;
        resolve({ host: bound.address, port: bound.port });
      };
      if (handle !== undefined) this.server.listen(handle as unknown as net.ListenOptions, onListening);
      else this.server.listen(address.port, address.host, onListening);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
