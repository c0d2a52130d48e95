/** Injection token of the resolved module options (ZeroDowntimeModuleOptions). */
export const ZERO_DOWNTIME_MODULE_OPTIONS = Symbol.for('@zero-downtime/nest:options');

/** Context name of the default Nest Logger. */
export const ZERO_DOWNTIME_LOGGER_CONTEXT = 'ZeroDowntime';
