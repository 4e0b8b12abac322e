// npm run bench -- [--notes 10000] [--seed 1] [--out bench/results] [--peers predecessor,git,restic]
//                  [--no-profile] [--work <dir>] [--keep]
//
// Issue 6's benchmark: penumbra-sync through the real local Worker, side by side with the
// predecessor's protocol, git and restic. Writes <out>/<N>-notes.md, .json and .svg.
import { parseArgs } from "node:util";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { runBench, type Peer } from "./bench.ts";

const USAGE = "usage: npm run bench -- [--notes 10000] [--seed 1] [--out bench/results] [--peers predecessor,git,restic|none] [--no-profile] [--work <dir>] [--keep]";

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        notes: { type: "string" },
        seed: { type: "string" },
        out: { type: "string" },
        peers: { type: "string" },
        "no-profile": { type: "boolean" },
        work: { type: "string" },
        keep: { type: "boolean" },
        help: { type: "boolean" },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const notes = Number(values.notes ?? 10_000);
  const seed = Number(values.seed ?? 1);
  if (!Number.isInteger(notes) || notes < 10 || notes > 1_000_000 || !Number.isInteger(seed)) {
    console.error(`--notes must be an integer 10..1000000 and --seed an integer\n${USAGE}`);
    return 2;
  }
  const all: Peer[] = ["predecessor", "git", "restic"];
  const peers = values.peers === undefined ? all : values.peers === "none" ? [] : (values.peers.split(",").map((s) => s.trim()) as Peer[]);
  const bad = peers.filter((p) => !all.includes(p));
  if (bad.length) {
    console.error(`unknown peer(s) ${bad.join(", ")}: choose from ${all.join(", ")} or none\n${USAGE}`);
    return 2;
  }
  const out = path.resolve(values.out ?? "bench/results");
  const r = await runBench({ notes, seed, out, peers, profile: !values["no-profile"], work: values.work, keep: values.keep });
  console.log(`wrote ${path.join(out, `${r.notes}-notes.md`)} (.json, .svg) in ${(r.durationMs / 1000).toFixed(1)} s`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
