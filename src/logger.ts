import createDebug from 'debug';

/** Anything console-like: leaderlink only calls these four methods. */
export interface Logger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug?(...args: unknown[]): void;
}

/** One debug namespace per module: `DEBUG=leaderlink:* node app.js`. */
export function debugFor(module: string): createDebug.Debugger {
  return createDebug(`leaderlink:${module}`);
}

const quiet = debugFor('log');

/**
 * The default logger: warnings and errors go to the console (operators must see them),
 * info and debug only under DEBUG=leaderlink:log.
 */
export const defaultLogger: Logger = {
  info: (...args) => quiet(...(args as [unknown, ...unknown[]])),
  debug: (...args) => quiet(...(args as [unknown, ...unknown[]])),
  warn: (...args) => console.warn(...args),
  error: (...args) => console.error(...args),
};
