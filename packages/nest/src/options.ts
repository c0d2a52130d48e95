import type { LoggerService } from '@nestjs/common';
import {
  HEALTH_PATH_DEFAULTS,
  InvalidOptionError,
  resolveHealthPaths,
  type HealthPathOptions,
  type WorkerOptions,
} from '@zero-downtime/core/worker';

/**
 * Options of `ZeroDowntimeModule.forRoot()` / `forRootAsync()`: every worker option of
 * `@zero-downtime/core/worker` (validated by its `configure()`) plus the health routes
 * (registered on the HTTP adapter as is: no global prefix, no guards), with a Nest logger
 * in place of core's.
 */
export interface ZeroDowntimeModuleOptions extends Omit<WorkerOptions, 'logger'>, HealthPathOptions {
  /**
   * Where the drain logs. Any Nest `LoggerService`; `false` turns logging off.
   * @default new Logger('ZeroDowntime')
   */
  logger?: LoggerService | false;
}

export const DEFAULTS = HEALTH_PATH_DEFAULTS;

export interface ResolvedModuleOptions extends Required<HealthPathOptions> {
  logger: LoggerService | false | undefined;
  worker: Omit<WorkerOptions, 'logger'>;
}

function isLoggerService(value: unknown): value is LoggerService {
  const candidate = value as Partial<LoggerService> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.log === 'function' &&
    typeof candidate.warn === 'function' &&
    typeof candidate.error === 'function'
  );
}

export function resolveOptions(options: ZeroDowntimeModuleOptions = {}): ResolvedModuleOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'an object', options);
  }
  const { logger, readinessPath, livenessPath, ...worker } = options;
  if (logger !== undefined && logger !== false && !isLoggerService(logger)) {
    throw new InvalidOptionError('logger', 'a Nest LoggerService (log, warn, error) or false', logger);
  }
  const resolved: ResolvedModuleOptions = {
    logger,
    ...resolveHealthPaths({ readinessPath, livenessPath }),
    worker,
  };
  return resolved;
}
