/**
 * A hybrid logical clock: wall-clock milliseconds plus a counter for writes in the same
 * millisecond, moved forward past every version this node has seen. A version written here is
 * therefore newer than any it replaces, even when this host's clock lags the author of the
 * previous one.
 */
export interface Version {
  ms: number
  n: number
}

export function compareVersions (a: Version, b: Version): number {
  return a.ms !== b.ms ? a.ms - b.ms : a.n - b.n
}

export class HybridClock {
  private last: Version = { ms: 0, n: 0 }

  constructor (private readonly now: () => number = Date.now) {}

  /** A version newer than every version seen so far and than `after` */
  next (after?: Version): Version {
    const base = after != null && compareVersions(after, this.last) > 0 ? after : this.last
    const wall = this.now()
    this.last = wall > base.ms ? { ms: wall, n: 0 } : { ms: base.ms, n: base.n + 1 }
    return this.last
  }

  /** Move past a version received from a peer */
  observe (version: Version): void {
    if (compareVersions(version, this.last) > 0) this.last = version
  }
}
