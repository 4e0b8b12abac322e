// Flag parsing for every command: node's util.parseArgs (built in, strict), with usage errors mapped to exit 2.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors.ts";

export function parse<O extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: O, positionals = 1) {
  let r;
  try {
    r = parseArgs({ args, options: { json: { type: "boolean" }, token: { type: "string" }, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (r.positionals.length !== positionals) throw new UsageError(positionals ? `expected ${positionals} argument(s), got ${r.positionals.length}` : "unexpected arguments");
  return r as typeof r & { values: { json?: boolean; token?: string } };
}

/** Human output or one JSON object on stdout. */
export function emit(json: boolean | undefined, value: unknown, human: () => string): void {
  if (json) process.stdout.write(JSON.stringify(value) + "\n");
  else process.stdout.write(human() + "\n");
}
