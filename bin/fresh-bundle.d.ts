// Types of fresh-bundle.js (plain JavaScript: the bin loads it before TypeScript can be).
export declare function freshBundle(dir: URL, root: URL): URL | null;
