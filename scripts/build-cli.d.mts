// Types of build-cli.mjs (plain JavaScript: `npm ci` runs it before anything compiles TypeScript).
export declare const CLI_BUNDLE_DIR: string;
export declare function buildBundle(entry: string, outDir: string): Promise<{ main: string; inputs: number }>;
export declare function buildCli(outDir?: string): Promise<{ out: string; inputs: number }>;
