/**
 * The public surface of @zero-downtime/core (the primary side). The worker
 * side is the separate subpath `@zero-downtime/core/worker`.
 */
export { Supervisor } from './primary/supervisor.js';
export type {
  SupervisorState,
  SupervisorStatus,
  SupervisorEvents,
  WorkerStatus,
  CrashLoopStatus,
  RolloutResult,
  RolloutOutcome,
  ReplacedWorker,
  CutReport,
  StopResult,
  ScaleResult,
} from './primary/supervisor.js';
export type { WorkerState, WorkerExit, ListeningAddress } from './primary/workers/handle.js';
export type { CanaryProgress, CanaryReport, ThinTraffic } from './primary/canary/canary.js';
export type { CanaryCounts } from './primary/canary/verdict.js';
export { DEFAULTS, resolveOptions, resolveReloadUpdate, parseDuration, createConsoleLogger, createJsonLogger, MAX_TIMER_MS } from './options.js';
export type {
  ReloadUpdate,
  SupervisorOptions,
  ResolvedOptions,
  BackoffOptions,
  Logger,
  Readiness,
  ForkFunction,
  ForkSettings,
} from './options.js';
/** The settings reference (docs/reference/configuration.md) as a Markdown table, from the settings table. */
export { renderSettingsTable } from './settings/reference.js';
export { ControlServer, defaultControlPath, sendControlCommand, CONTROL_ENV } from './primary/control/server.js';
export type { ControlCommand, ControlRequest, ControlResponse, ControlHandlers, ControlServerOptions, UpgradeRequest } from './primary/control/server.js';
export {
  ZdtError,
  InvalidOptionError,
  EntryNotFoundError,
  StartFailedError,
  RolloutFailedError,
  RequestsCutError,
  ScaleFailedError,
  InvalidStateError,
  ControlInUseError,
  ControlUnavailableError,
  ControlUntrustedError,
  ControlPathError,
  ControlPermissionError,
  UsageError,
  ConfigError,
  ListenError,
  UpgradeInProgressError,
  UpgradeFailedError,
  PidFileError,
  VerifyNotInstalledError,
  DeployFailedError,
  InstallFailedError,
  exitStatusOf,
} from './errors.js';
export type { ListenOption, ListenDescriptor, ListenerInfo, ListenerOrigin } from './primary/sockets/listeners.js';
export type { RollbackSummary, ServingWorker } from './errors.js';
export { WORKER_ENV, isProtocolMessage } from './protocol.js';
export type {
  ProtocolMessage,
  PrimaryToWorker,
  WorkerToPrimary,
  ShutdownReason,
  ShutdownMessage,
  PingMessage,
  HelloMessage,
  ReadyMessage,
  PongMessage,
  DrainingMessage,
  DrainedMessage,
  ReplaceMeMessage,
  FatalMessage,
  ListeningMessage,
  CountOpenMessage,
  CountCloseMessage,
  CountedMessage,
  ErrorSummary,
} from './protocol.js';
