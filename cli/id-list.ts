// A part folder's listing: its note ids, sorted, in one string. A scan holds a listing through its
// whole part (and two listings wait meanwhile): 100,000 ids cut from their file names were 100,000
// name strings plus 100,000 slices of them (~96 bytes an id), here the id's characters and one
// offset (~40 bytes). An id is cut out only when it is looked at; the cut is a view of the listing
// (a caller that keeps one copies it, see ownCopy in vault-folder.ts).

export class IdList {
  static readonly EMPTY = new IdList("", new Uint32Array(0));

  private constructor(
    private readonly text: string,
    /** End of each id in `text`: id k is text[ends[k - 1] (0 for the first), ends[k]). */
    private readonly ends: Uint32Array,
  ) {}

  /** The list of these ids, sorted (the array is sorted in place). */
  static sorted(ids: string[]): IdList {
    if (!ids.length) return IdList.EMPTY;
    ids.sort();
    const ends = new Uint32Array(ids.length);
    let at = 0;
    for (let k = 0; k < ids.length; k++) ends[k] = at += ids[k].length;
    return new IdList(ids.join(""), ends);
  }

  get length(): number {
    return this.ends.length;
  }

  /** The k-th id (0 <= k < length). */
  at(k: number): string {
    return this.text.slice(k ? this.ends[k - 1] : 0, this.ends[k]);
  }
}
