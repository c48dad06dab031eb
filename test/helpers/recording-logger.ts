import type { Logger } from '../../src/logger.js';

/** A quiet logger that keeps each warn / error line (its arguments joined by spaces) for assertions. */
export function recordingLogger(warnings: string[] = [], errors: string[] = []): { logger: Logger; warnings: string[]; errors: string[] } {
  const line = (a: unknown[]): string => a.map(String).join(' ');
  const logger: Logger = {
    info() {},
    warn: (...a: unknown[]) => void warnings.push(line(a)),
    error: (...a: unknown[]) => void errors.push(line(a)),
  };
  return { logger, warnings, errors };
}
