// Exit codes: 0 success, 1 failure (one clear line on stderr), 2 usage error.
export class UsageError extends Error {
  override name = "UsageError";
}

/** A failure the user can act on: `message` says what failed, `hint` what to do. */
export class CliError extends Error {
  override name = "CliError";
  constructor(message: string, readonly hint?: string, readonly code = "failed") {
    super(message);
  }
}
