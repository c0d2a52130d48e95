export { ZeroDowntimeModule } from './zero-downtime.module.js';
export { ZeroDowntimeService } from './zero-downtime.service.js';
export { enableZeroDowntime } from './enable.js';
export { ZERO_DOWNTIME_MODULE_OPTIONS, ZERO_DOWNTIME_LOGGER_CONTEXT } from './constants.js';
export { DEFAULTS, resolveOptions, type ZeroDowntimeModuleOptions } from './options.js';
export { OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } from './zero-downtime.module-definition.js';
