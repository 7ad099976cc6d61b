/**
 * Every error skiff raises on purpose has a stable code, so that scripts, tests and docs can
 * rely on it while messages stay free to improve. The table below is the one home of those codes.
 *
 * - `UsageError`: the command line itself is wrong (exit code 2).
 * - `SkiffError`: a user-facing failure with a one-line reason (exit code 1).
 */
export const ErrorCodes = {
  USAGE: 'SKIFF_ERR_USAGE',
  CONFIG_INVALID: 'SKIFF_ERR_CONFIG_INVALID',
  LISTEN_FAILED: 'SKIFF_ERR_LISTEN_FAILED',
  FILE_READ: 'SKIFF_ERR_FILE_READ',
  MANIFEST_INVALID: 'SKIFF_ERR_MANIFEST_INVALID',
  DASHBOARD_UNREACHABLE: 'SKIFF_ERR_DASHBOARD_UNREACHABLE',
  DASHBOARD_AUTH: 'SKIFF_ERR_DASHBOARD_AUTH',
  REPORT_INVALID: 'SKIFF_ERR_REPORT_INVALID',
  STORE: 'SKIFF_ERR_STORE',
  COMMAND_FAILED: 'SKIFF_ERR_COMMAND_FAILED',
  TLS: 'SKIFF_ERR_TLS',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class SkiffError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SkiffError';
    this.code = code;
  }
}

export class UsageError extends SkiffError {
  constructor(message: string) {
    super(ErrorCodes.USAGE, message);
    this.name = 'UsageError';
  }
}

/** A one-line, human-readable reason for any thrown value (no stack traces for users). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const sys = err as NodeJS.ErrnoException & { address?: string; port?: number };
    if (sys.code && sys.syscall && !(err instanceof SkiffError)) {
      return `${sys.syscall} ${sys.code}${sys.address ? ` ${sys.address}${sys.port ? `:${sys.port}` : ''}` : ''}`;
    }
    return err.message.split('\n')[0] ?? String(err);
  }
  return String(err);
}
