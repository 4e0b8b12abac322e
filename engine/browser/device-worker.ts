// The device worker: one dedicated Web Worker per page that runs the whole device (device-host.ts)
// and answers the page's proxy (device-client.ts). Built as its own module (device-worker.js).
import { DeviceHost, DeviceError, serializeError } from "./device-host.ts";
import type { DeviceMessage, DeviceRequest } from "./device-protocol.ts";

declare const self: { onmessage: ((e: MessageEvent<DeviceRequest>) => void) | null; postMessage(msg: DeviceMessage): void };

let host: DeviceHost | null = null;
let opening: Promise<DeviceHost> | null = null;

function device(): DeviceHost {
  if (!host) throw new DeviceError("not_open", "no vault is open in this worker");
  return host;
}

async function handle(m: DeviceRequest): Promise<unknown> {
  switch (m.op) {
    case "open": {
      if (host || opening) throw new DeviceError("already_open", "a vault is already open in this worker");
      opening = DeviceHost.open(m.args, {
        waiting: () => self.postMessage({ event: "waiting" }),
        changed: (state) => self.postMessage({ event: "changed", state }),
        head: (snapshot) => self.postMessage({ event: "head", snapshot }),
        live: (up) => self.postMessage({ event: "live", up }),
      });
      try {
        host = await opening;
      } finally {
        opening = null;
      }
      return host.state();
    }
    case "state":
      return device().state();
    case "findNotes":
      return device().findNotes(m.args.query, m.args.limit);
    case "entry":
      return device().entry(m.args.id);
    case "getNote":
      return device().getNote(m.args.id);
    case "noteText":
      return device().noteText(m.args.entry);
    case "putNote":
      return device().putNote(m.args.id, m.args.note);
    case "editNote":
      return device().editNote(m.args.id, m.args.title, m.args.body);
    case "deleteNote":
      return device().deleteNote(m.args.id);
    case "sync":
      return device().sync((progress) => self.postMessage({ event: "progress", call: m.id, progress }));
    case "info":
      return device().info();
    case "log":
      return device().log(m.args.limit);
    case "bytesAdded":
      return device().bytesAdded(m.args.entry);
    case "history":
      return device().history(m.args.id, m.args.log);
    case "restore":
      return device().restore(m.args.id, m.args.version);
    case "listen":
      device().listen();
      return null;
    case "close": {
      const h = host;
      host = null;
      await h?.close(m.args.forget);
      return null;
    }
  }
}

self.onmessage = (e) => {
  const m = e.data;
  handle(m).then(
    (result) => self.postMessage({ id: m.id, ok: true, result }),
    (err: unknown) => self.postMessage({ id: m.id, ok: false, error: serializeError(err) }),
  );
};
