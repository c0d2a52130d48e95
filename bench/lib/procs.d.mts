// Types for the parts of procs.mjs the end-to-end tests use.
export declare function childrenOf(pid: number): number[];
export declare function isAlive(pid: number): boolean;
export declare function killTree(pid: number, signal?: NodeJS.Signals): void;
export declare function freePort(): Promise<number>;
export declare function waitForHttp(port: number, options?: { timeoutMs?: number; path?: string }): Promise<true>;
export declare function waitForExit(pid: number, timeoutMs?: number): Promise<boolean>;
export declare function waitFor<T>(
  predicate: () => T | Promise<T>,
  options?: { timeoutMs?: number; intervalMs?: number; what?: string },
): Promise<NonNullable<T>>;
