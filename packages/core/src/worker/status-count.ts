/**
 * Response counting for a canary window. The supervisor opens a window on every worker (old generation and canary
 * alike) and closes it at the end, and the worker answers with what it served meanwhile: responses and 5xx. Counting
 * rides on `diagnostics_channel`'s `http.server.response.finish` (published by node:http after every response on
 * Node 20, 22 and 24), subscribed only while a window is open: outside one, nothing runs per request.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';

const RESPONSE_FINISH_CHANNEL = 'http.server.response.finish';

export interface WindowCounts {
  requests: number;
  errors: number;
}

export class StatusCount {
  private window: number | undefined;
  private requests = 0;
  private errors = 0;

  private readonly onFinish = (message: unknown): void => {
    const { response } = message as { response?: ServerResponse };
    this.requests += 1;
    if ((response?.statusCode ?? 0) >= 500) this.errors += 1;
  };

  get open(): boolean {
    return this.window !== undefined;
  }

  /** Starts counting from zero for `window` (a window opened again restarts it). */
  openWindow(window: number): void {
    if (this.window === undefined) diagnosticsChannel.subscribe(RESPONSE_FINISH_CHANNEL, this.onFinish);
    this.window = window;
    this.requests = 0;
    this.errors = 0;
  }

  /** Stops counting without an answer (the runtime uninstalls itself). */
  abandon(): void {
    if (this.window !== undefined) this.closeWindow(this.window);
  }

  /** Stops counting and returns what the window saw; zeros for a window this worker never opened (forked since). */
  closeWindow(window: number): WindowCounts {
    if (this.window !== window) return { requests: 0, errors: 0 };
    diagnosticsChannel.unsubscribe(RESPONSE_FINISH_CHANNEL, this.onFinish);
    this.window = undefined;
    return { requests: this.requests, errors: this.errors };
  }
}
