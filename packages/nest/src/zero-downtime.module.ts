import { Module } from '@nestjs/common';
import { ConfigurableModuleClass } from './zero-downtime.module-definition.js';
import { ZeroDowntimeService } from './zero-downtime.service.js';

/**
 * `ZeroDowntimeModule.forRoot(options)` or `forRootAsync({ useFactory, inject, imports })` in the
 * root module, then `enableZeroDowntime(app)` in main.ts.
 */
@Module({
  providers: [ZeroDowntimeService],
  exports: [ZeroDowntimeService],
})
export class ZeroDowntimeModule extends ConfigurableModuleClass {}
