// Entry of a seal-pool worker thread (seal-pool.ts). Worker threads do not inherit the loader the
// CLI registers, so this plain-JS file registers tsx before it loads the TypeScript worker body.
import { register } from "tsx/esm/api";

register();
await import("./seal-worker.ts");
