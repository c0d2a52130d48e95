import type { Server } from 'node:http';
import {
  Inject,
  Injectable,
  Logger,
  type INestApplication,
  type LoggerService,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import {
  closeAfterDrain,
  configure,
  healthResponse,
  isDraining,
  manageServer,
  shutdown,
  type DrainReport,
  type WorkerLogger,
} from '@zero-downtime/core/worker';
import { ZERO_DOWNTIME_LOGGER_CONTEXT, ZERO_DOWNTIME_MODULE_OPTIONS } from './constants.js';
import { resolveOptions, type ResolvedModuleOptions, type ZeroDowntimeModuleOptions } from './options.js';

/** Core logs pino style, `(object | message, message?)`; a Nest logger takes one message. */
function render(objectOrMessage: unknown, message?: string): string {
  if (typeof objectOrMessage === 'string') return objectOrMessage;
  const details = objectOrMessage instanceof Error ? (objectOrMessage.stack ?? String(objectOrMessage)) : JSON.stringify(objectOrMessage);
  return message === undefined ? details : `${message} ${details}`;
}

function toWorkerLogger(logger: LoggerService): WorkerLogger {
  return {
    info: (objectOrMessage: unknown, message?: string) => logger.log(render(objectOrMessage, message)),
    warn: (objectOrMessage: unknown, message?: string) => logger.warn(render(objectOrMessage, message)),
    error: (objectOrMessage: unknown, message?: string) => logger.error(render(objectOrMessage, message)),
    debug: (objectOrMessage: unknown, message?: string) => logger.debug?.(render(objectOrMessage, message)),
  };
}

/** What `enableShutdownHooks()` leaves on a Nest application (not in Nest's public types). */
interface ShutdownHooksInternals {
  /** NestJS 10 and 11: the signals listened to. */
  activeShutdownSignals?: string[];
  /** NestJS 12: each signal listened to, with its listener. */
  shutdownCleanupRefs?: Map<string, unknown>;
  unsubscribeFromProcessSignals?: () => void;
}

/**
 * Connects the Nest application to the worker drain: manages its HTTP server, answers the
 * health routes, and runs `app.close()` (onModuleDestroy, beforeApplicationShutdown,
 * onApplicationShutdown) as the drain's cleanup step, after the last request.
 */
@Injectable()
export class ZeroDowntimeService implements OnModuleInit, OnModuleDestroy {
  private readonly options: ResolvedModuleOptions;
  private readonly logger: LoggerService | false;
  private application: INestApplication | undefined;
  private applicationClosing: (() => void) | undefined;

  constructor(
    @Inject(ZERO_DOWNTIME_MODULE_OPTIONS) options: ZeroDowntimeModuleOptions,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {
    this.options = resolveOptions(options);
    this.logger = this.options.logger ?? new Logger(ZERO_DOWNTIME_LOGGER_CONTEXT);
  }

  onModuleInit(): void {
    configure({ ...this.options.worker, logger: this.logger === false ? false : toWorkerLogger(this.logger) });
    // app.close() runs onModuleDestroy while HTTP still serves: after the HTTP drain, no request is left to see it.
    this.applicationClosing = closeAfterDrain(() => this.application?.close(), '@zero-downtime/nest: app.close()');

    // An application context without HTTP (createApplicationContext) has no adapter.
    const httpAdapter = this.adapterHost.httpAdapter;
    if (httpAdapter === undefined) return;
    for (const [kind, path] of [
      ['readiness', this.options.readinessPath],
      ['liveness', this.options.livenessPath],
    ] as const) {
      if (path === false) continue;
      // On the adapter rather than a controller: a controller's path is fixed at import time,
      // and forRootAsync only knows the path once its factory ran.
      httpAdapter.get(path, (_request: unknown, response: unknown) => {
        const health = healthResponse(kind);
        httpAdapter.reply(response, health.body, health.status);
      });
    }

    const server = httpAdapter.getHttpServer() as Server | undefined;
    if (server === undefined) return;
    const onListening = (): void => {
      manageServer(server);
      this.detachShutdownHooks();
      if (this.application === undefined && this.logger !== false) {
        this.logger.warn(
          'enableZeroDowntime(app) was not called before app.listen(): the drain cannot run app.close(), so onModuleDestroy and onApplicationShutdown hooks would not run before exit',
        );
      }
    };
    if (server.listening) onListening();
    else server.once('listening', onListening);
  }

  onModuleDestroy(): void {
    this.applicationClosing?.();
  }

  /** Gives the drain the application to close after the last request; see `enableZeroDowntime`. */
  attach(application: INestApplication): void {
    this.application = application;
    this.detachShutdownHooks();
  }

  /** True from the instant the drain starts (readiness answers 503 from then on). */
  isDraining(): boolean {
    return isDraining();
  }

  /**
   * Starts the drain by hand, as SIGTERM would: stop listening, finish in-flight requests,
   * then app.close(), then exit unless `exit: false`. Every call returns the same promise.
   */
  shutdown(reason?: string): Promise<DrainReport> {
    return shutdown(reason);
  }

  /**
   * `app.enableShutdownHooks()` would run app.close() on SIGTERM while requests are still in
   * flight, then re-send the signal (which core reads as a second signal: forced exit). The
   * drain already closes the app after the last request, so Nest's listeners are removed.
   */
  private detachShutdownHooks(): void {
    const internals = this.application as unknown as ShutdownHooksInternals | undefined;
    if (internals === undefined) return;
    const listening = (internals.activeShutdownSignals?.length ?? 0) + (internals.shutdownCleanupRefs?.size ?? 0);
    if (listening === 0) return;
    // NestJS 12 also forgets the signals here; 10 and 11 keep the list, emptied below.
    internals.unsubscribeFromProcessSignals?.();
    internals.activeShutdownSignals?.splice(0);
    if (this.logger !== false) {
      this.logger.warn('app.enableShutdownHooks() is not needed with ZeroDowntimeModule; its signal listeners were removed so the drain runs first');
    }
  }
}
