// Issue #3, property 3: a model-based test of 2-4 devices against the real Worker over HTTP.
// Devices create, edit, delete, move and re-embed notes and sync in random interleavings (two
// devices pushing at the same moment included). After a quiet round of syncs every device must hold
// the same content and the same root, and no edit may be lost:
//   - every line any device appended to a note is still in some note (the note or a conflict copy),
//     unless a device deleted a note while that line was in its copy of it;
//   - a note deleted by a device that had seen every edit ever made to it stays deleted.
// Every edit appends a line no one else writes, so "had seen" is checked by content, not by clocks.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import { startTestServer, type TestServer } from "../helpers/local-server.ts";
import { Vault, MemoryStore, HttpRemote, sync } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";

installNodeFastPaths();
const LONG = process.env.PENUMBRA_LONG === "1";
const RUNS = LONG ? 200 : 25;
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

interface Device {
  name: string;
  v: Vault;
  remote: HttpRemote;
}

interface World {
  devices: Device[];
  lineCounter: number;
  /** Every line ever appended, with the note it was appended to. */
  lines: Map<string, string>;
  /** Lines a device saw in a note it deleted: their loss is legitimate. */
  deletedSeen: Set<string>;
  /** Deletes: note id and the lines the deleter saw in it. */
  deletes: { id: string; seen: Set<string> }[];
  /** Notes whose position or embedding changed at some point (a non-line edit can keep a deleted note). */
  touched: Set<string>;
}

const IDS = ["a", "b", "c", "d", "e"];

async function bodyLines(v: Vault, id: string): Promise<string[]> {
  const n = await v.getNote(id);
  return typeof n?.body === "string" ? n.body.split("\n") : [];
}

type Cmd = fc.AsyncCommand<object, World>;

class Create implements Cmd {
  constructor(readonly dev: number, readonly id: string) {}
  check = () => true;
  async run(_m: object, w: World) {
    const d = w.devices[this.dev % w.devices.length];
    if (d.v.entry(this.id)?.note) return;
    const line = `L${w.lineCounter++} by ${d.name}`;
    w.lines.set(line, this.id);
    await d.v.putNote(this.id, { title: this.id, body: line, updated: new Date(1_700_000_000_000 + w.lineCounter * 1000).toISOString() });
    await d.v.putEmbedding(this.id, new Float32Array([w.lineCounter, 1, 2, 3]));
  }
  toString = () => `create(${this.dev}, ${this.id})`;
}

class Append implements Cmd {
  constructor(readonly dev: number, readonly id: string, readonly atTop: boolean) {}
  check = () => true;
  async run(_m: object, w: World) {
    const d = w.devices[this.dev % w.devices.length];
    const note = await d.v.getNote(this.id);
    if (!note) return;
    const line = `L${w.lineCounter++} by ${d.name}`;
    w.lines.set(line, this.id);
    const body = typeof note.body === "string" ? note.body : "";
    await d.v.putNote(this.id, { ...note, body: this.atTop ? `${line}\n${body}` : `${body}\n${line}`, updated: new Date(1_700_000_000_000 + w.lineCounter * 1000).toISOString() });
  }
  toString = () => `append(${this.dev}, ${this.id}, ${this.atTop ? "top" : "end"})`;
}

class Move implements Cmd {
  constructor(readonly dev: number, readonly id: string, readonly x: number) {}
  check = () => true;
  async run(_m: object, w: World) {
    const d = w.devices[this.dev % w.devices.length];
    if (!d.v.entry(this.id)) return;
    w.touched.add(this.id);
    await d.v.putPosition(this.id, { x: this.x, y: 0, z: 0 });
    if (this.x % 2) await d.v.putEmbedding(this.id, new Float32Array([this.x, -0, 1e-42, 4]));
  }
  toString = () => `move(${this.dev}, ${this.id}, ${this.x})`;
}

class Delete implements Cmd {
  constructor(readonly dev: number, readonly id: string) {}
  check = () => true;
  async run(_m: object, w: World) {
    const d = w.devices[this.dev % w.devices.length];
    if (!d.v.entry(this.id)) return;
    const seen = new Set(await bodyLines(d.v, this.id));
    for (const l of seen) w.deletedSeen.add(l);
    w.deletes.push({ id: this.id, seen });
    await d.v.delete(this.id);
  }
  toString = () => `delete(${this.dev}, ${this.id})`;
}

class Sync implements Cmd {
  constructor(readonly devs: number[]) {}
  check = () => true;
  async run(_m: object, w: World) {
    const ds = [...new Set(this.devs.map((i) => i % w.devices.length))].map((i) => w.devices[i]);
    // Several devices at the same moment: their pushes race for the head.
    await Promise.all(ds.map((d) => sync(d.v, d.remote, { sleep: async () => {} , maxAttempts: 20 })));
  }
  toString = () => `sync(${this.devs.join("+")})`;
}

const arbDev = fc.nat({ max: 3 });
const arbId = fc.constantFrom(...IDS);
const commands = [
  fc.tuple(arbDev, arbId).map(([d, id]) => new Create(d, id)),
  fc.tuple(arbDev, arbId, fc.boolean()).map(([d, id, t]) => new Append(d, id, t)),
  fc.tuple(arbDev, arbId, fc.integer({ min: -50, max: 50 })).map(([d, id, x]) => new Move(d, id, x)),
  fc.tuple(arbDev, arbId).map(([d, id]) => new Delete(d, id)),
  arbDev.map((d) => new Sync([d])),
  fc.uniqueArray(arbDev, { minLength: 2, maxLength: 3 }).map((ds) => new Sync(ds)),
];

let vaultNo = 0;

describe("multi-device model", () => {
  it("converges and loses no edit under random interleavings", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 4 }), fc.commands(commands, { maxCommands: LONG ? 60 : 25 }), async (n, cmds) => {
        const vault = `model-${process.pid}-${vaultNo++}`;
        const devices: Device[] = [];
        for (let i = 0; i < n; i++) {
          const remote = new HttpRemote({ url: server.url, vault, token: server.token });
          if (i === 0) await remote.create({ format: 1, addressing: "sha256", encryption: null });
          devices.push({ name: `dev${i}`, v: await Vault.open({ store: new MemoryStore(), device: `dev${i}`, compressor: nodeCompressor }), remote });
        }
        const w: World = { devices, lineCounter: 0, lines: new Map(), deletedSeen: new Set(), deletes: [], touched: new Set() };
        await fc.asyncModelRun(() => ({ model: {}, real: w }), cmds);
        // Quiet rounds: every device syncs in turn until all agree.
        for (let round = 0; round < 3; round++) for (const d of devices) await sync(d.v, d.remote, { sleep: async () => {} });
        const roots = devices.map((d) => d.v.headRoot);
        expect(new Set(roots).size).toBe(1);
        const v = devices[0].v;
        const present = new Set<string>();
        for (const id of v.ids()) for (const l of await bodyLines(v, id)) present.add(l);
        for (const [line, id] of w.lines) {
          if (!w.deletedSeen.has(line)) expect(present.has(line), `line "${line}" of note ${id} was lost`).toBe(true);
        }
        for (const del of w.deletes) {
          const allLines = [...w.lines].filter(([, id]) => id === del.id).map(([l]) => l);
          const sawEverything = allLines.every((l) => del.seen.has(l) || w.deletedSeen.has(l));
          const laterDeleted = w.deletes.indexOf(del) < w.deletes.length - 1 && w.deletes.slice(w.deletes.indexOf(del) + 1).some((x) => x.id === del.id);
          if (sawEverything && !w.touched.has(del.id) && !laterDeleted) {
            expect(v.entry(del.id), `note ${del.id} came back from the dead`).toBeUndefined();
          }
        }
      }),
      { numRuns: RUNS, seed: LONG ? undefined : 20261125, verbose: 1 },
    );
  }, 600_000);
});
