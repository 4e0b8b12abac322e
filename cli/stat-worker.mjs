// A stat thread of stat-files.ts (which documents the layout it writes). Plain JavaScript on
// purpose: a thread that loads TypeScript through tsx takes ~0.4 s to start, this one ~20 ms, and a
// no-op scan of 300,000 files is over in about a second. It takes chunks of the paths from a
// shared counter, so the threads finish together whatever the disk does.
import { parentPort, workerData } from "node:worker_threads";
import { sharedNameAt, statChunks } from "./stat-chunks.mjs";

const { groups, groupStarts, names, firstChunk, counter, out, chunk } = workerData;
statChunks(groups, sharedNameAt(names, groupStarts), firstChunk, chunk, new Float64Array(out), new Int32Array(counter));
parentPort.postMessage("done");
