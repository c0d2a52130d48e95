import type { INestApplication } from '@nestjs/common';
import { ZeroDowntimeService } from './zero-downtime.service.js';

/**
 * The main.ts half of the module, in place of `app.enableShutdownHooks()`: tells the drain which
 * application to close after the last request. Returns the app for chaining.
 */
export function enableZeroDowntime<Application extends INestApplication>(app: Application): Application {
  app.get(ZeroDowntimeService).attach(app);
  return app;
}
