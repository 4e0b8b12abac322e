// Progress on a terminal: bytes and rate while hashing, uploading and downloading. Nothing at all
// when stderr is not a TTY or the output is --json (cli-progress draws the bar).
import cliProgress from "cli-progress";

export interface Progress {
  /** Starts (or switches to) a phase; `total` when known. */
  phase(name: string, total?: number): void;
  /** Sets the bytes done in the current phase. */
  update(bytes: number): void;
  stop(): void;
}

const quiet: Progress = { phase() {}, update() {}, stop() {} };

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

export function makeProgress(enabled: boolean): Progress {
  if (!enabled) return quiet;
  let bar: cliProgress.SingleBar | null = null;
  let started = 0;
  let name = "";
  let total: number | undefined;
  const stopBar = () => {
    bar?.stop();
    bar = null;
  };
  return {
    phase(n, t) {
      stopBar();
      name = n;
      total = t;
      started = Date.now();
      bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
          format: (_opts, params) => {
            const secs = Math.max((Date.now() - started) / 1000, 0.001);
            const rate = `${mib(params.value / secs)}/s`;
            const amount = total ? `${mib(params.value)} / ${mib(total)}` : mib(params.value);
            const width = 24;
            const filled = total ? Math.round((Math.min(params.value, total) / total) * width) : 0;
            const gauge = total ? `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ` : "";
            return `${name.padEnd(11)} ${gauge}${amount}  ${rate}`;
          },
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(t ?? 0, 0);
    },
    update(bytes) {
      bar?.update(bytes);
    },
    stop: stopBar,
  };
}

export function progressWanted(json: boolean | undefined): boolean {
  return !json && !!process.stderr.isTTY && process.env.CI !== "true";
}
