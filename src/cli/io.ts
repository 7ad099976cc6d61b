import type { Readable, Writable } from 'node:stream';

/**
 * Everything a command may touch of the outside world. Only bin/skiff.ts builds one from
 * `process`; tests build their own, so every command is a function of its inputs.
 */
export interface CliIO {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly cwd: string;
  /** Aborted on SIGTERM or SIGINT; `reason` is the signal name. Long-running commands drain on it. */
  readonly shutdown: AbortSignal;
}

/** A subcommand: it returns the process exit code (0 ok, 1 user error, 2 bad usage). */
export interface Command {
  readonly name: string;
  readonly summary: string;
  run(io: CliIO, args: readonly string[]): Promise<number>;
}
