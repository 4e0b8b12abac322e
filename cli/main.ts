// Dispatches `penumbra-sync <command> ...` to one file per command under cli/commands/.
import { CliError, UsageError } from "./errors.ts";
import { preferSmallHeap } from "./heap-mode.ts";

export interface CommandModule {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  serve: () => import("./commands/serve.ts"),
  init: () => import("./commands/init.ts"),
  sync: () => import("./commands/sync.ts"),
  watch: () => import("./commands/watch.ts"),
  push: () => import("./commands/push.ts"),
  pull: () => import("./commands/pull.ts"),
  status: () => import("./commands/status.ts"),
  log: () => import("./commands/log.ts"),
  restore: () => import("./commands/restore.ts"),
  verify: () => import("./commands/verify.ts"),
  gc: () => import("./commands/gc.ts"),
  rekey: () => import("./commands/rekey.ts"),
  token: () => import("./commands/token.ts"),
  demo: () => import("./commands/demo.ts"),
};

async function help(): Promise<string> {
  const rows = await Promise.all(Object.entries(COMMANDS).map(async ([name, load]) => `  ${name.padEnd(8)} ${(await load()).summary}`));
  return ["usage: penumbra-sync <command> [options]", "", "commands:", ...rows, "", "Run `penumbra-sync <command> --help` for a command's options."].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  preferSmallHeap();
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(await help());
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`penumbra-sync: unknown command '${name}'\n\n${await help()}`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`${cmd.summary}\n\nusage: ${cmd.usage}`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`penumbra-sync ${name}: ${e.message}\nusage: ${cmd.usage}`);
      return 2;
    }
    if (e instanceof CliError) {
      console.error(`penumbra-sync ${name}: ${e.message}${e.hint ? ` (${e.hint})` : ""}`);
      return 1;
    }
    if ((e as Error)?.name === "TypeError" && /parseArgs|Unknown option|Option/.test(String((e as Error).message))) {
      console.error(`penumbra-sync ${name}: ${(e as Error).message}\nusage: ${cmd.usage}`);
      return 2;
    }
    console.error(`penumbra-sync ${name}: ${(e as Error)?.message ?? e}`);
    return 1;
  }
}
