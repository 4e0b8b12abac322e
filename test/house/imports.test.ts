// The shape of the house, checked so that it cannot silently regress (issue 16):
// - the import graph of worker/, cli/, engine/ and sample/ has no circle (type-only imports count:
//   a circle of types is still a circle a reader has to walk);
// - the product (cli/, engine/, worker/, sample/) never imports the benchmarks (bench/) or the tests;
// - worker/ imports only engine/core/ of the engine, and engine/core/ only itself (no `node:`);
// - the sample vault generator uses no Node built-ins (browser tests run it);
// - the Durable Object's contract (worker/vault-types.ts VaultApi) lists every method it serves, so
//   callers can depend on the contract instead of the class.
// Imports are read with the TypeScript compiler's own scanner (static, re-exports and dynamic
// `import("...")`), so comments and strings that merely look like imports do not count.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { VaultObject } from "../../worker/vault-object.ts";
import type { VaultApi } from "../../worker/vault-types.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const PRODUCT = ["worker", "cli", "engine", "sample"];

function sourcesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourcesUnder(path));
    else if (/\.(ts|mts|mjs|js)$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** What a file imports: repository paths for relative specifiers, the specifier itself otherwise. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(ROOT, file), "utf8"), true, true);
  return info.importedFiles.map(({ fileName: spec }) => (spec.startsWith(".") ? relative(ROOT, resolve(ROOT, dirname(file), spec)) : spec));
}

/** A file of this repository (not a package, not a runtime module such as `node:fs` or `cloudflare:workers`). */
const isRepoPath = (t: string) => PRODUCT.some((d) => t.startsWith(`${d}/`)) || /^(bench|test|app|scripts|bin)\//.test(t);

const files = PRODUCT.flatMap(sourcesUnder);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** Every import circle, each as the path of files that closes it (Tarjan's strongly connected components). */
function circles(g: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return found;
}

const importers = (test: (file: string, target: string) => boolean) =>
  [...graph].flatMap(([file, targets]) => targets.filter((t) => test(file, t)).map((t) => `${file} -> ${t}`));

describe("the house: imports run one way", () => {
  it("reads the imports it checks", () => {
    // A scanner that found nothing would pass every check below.
    expect(graph.get("worker/index.ts")).toContain("worker/vault-object.ts");
    expect(graph.get("worker/push.ts")).toContain("worker/commit.ts");
    expect(graph.get("cli/commands/demo.ts")).toContain("sample/generator.ts");
    expect(circles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]))).toEqual([["a", "b", "c"]]);
  });

  it("has no import circle in worker/, cli/, engine/ or sample/", () => {
    expect(circles(graph)).toEqual([]);
  });

  it("keeps the benchmarks and the tests out of the product", () => {
    expect(importers((_f, t) => /^(bench|test)\//.test(t))).toEqual([]);
  });

  it("lets worker/ use only engine/core/ of the engine, and engine/core/ only itself", () => {
    expect(importers((f, t) => f.startsWith("worker/") && t.startsWith("engine/") && !t.startsWith("engine/core/"))).toEqual([]);
    expect(importers((f, t) => f.startsWith("engine/core/") && (t.startsWith("node:") || (isRepoPath(t) && !t.startsWith("engine/core/"))))).toEqual([]);
  });

  it("keeps Node built-ins out of the sample vault generator", () => {
    expect(importers((f, t) => f === "sample/generator.ts" && t.startsWith("node:"))).toEqual([]);
  });
});

describe("the house: the Worker depends on the Durable Object's contract, not its class", () => {
  it("lists every RPC method of VaultObject in VaultApi (checked by tsc, which npm test runs first)", () => {
    // Methods a stub never exposes (DurableObjectStub leaves them out); anything else VaultObject
    // serves and VaultApi lacks would be unreachable through env.VAULT.
    type NotRpc = "alarm" | "connect" | "fetch" | "webSocketMessage" | "webSocketClose" | "webSocketError";
    expectTypeOf<Exclude<keyof VaultObject, keyof VaultApi | NotRpc>>().toEqualTypeOf<never>();
    expectTypeOf<VaultObject>().toMatchTypeOf<VaultApi>();
  });
});

