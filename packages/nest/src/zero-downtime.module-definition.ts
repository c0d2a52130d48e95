import { ConfigurableModuleBuilder } from '@nestjs/common';
import { ZERO_DOWNTIME_MODULE_OPTIONS } from './constants.js';
import type { ZeroDowntimeModuleOptions } from './options.js';

export const { ConfigurableModuleClass, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<ZeroDowntimeModuleOptions>({
    moduleName: 'ZeroDowntime',
    optionsInjectionToken: ZERO_DOWNTIME_MODULE_OPTIONS,
  })
    .setClassMethodName('forRoot')
    .build();
