import type { Peer } from '@distromash/p2pcomm'
import type { ApiDeps, Identity } from './deps.js'

/** How often the peer list and identity are compared while an event stream is open */
export const NODE_WATCH_INTERVAL_MS = 1000

/** What the event stream says about the node itself */
export type NodeChange =
  | { kind: 'peers', count: number, live: number }
  | { kind: 'identity', identity: Identity }

/**
 * Notices changes of the peer list and of this node's identity by comparing them each interval.
 * Liveness is a rule over time (a peer not heard of for three announce intervals stops being
 * live) that no libp2p event marks, and the list merges the peer store, connections and gossip:
 * one comparison catches all of them. Only while someone listens, and one poll for every stream.
 */
export class NodeWatch {
  private readonly listeners = new Set<(change: NodeChange) => void>()
  private timer?: NodeJS.Timeout
  /** Bumped on every start and stop: a look still running from an earlier start schedules nothing */
  private run = 0
  private peers?: string
  private identity?: string

  constructor (private readonly deps: Pick<ApiDeps, 'peers' | 'identity'>, private readonly intervalMs = NODE_WATCH_INTERVAL_MS) {}

  subscribe (fn: (change: NodeChange) => void): () => void {
    this.listeners.add(fn)
    if (this.listeners.size === 1) this.start()
    return () => {
      this.listeners.delete(fn)
      if (this.listeners.size === 0) this.stop()
    }
  }

  private start (): void {
    // the first look is the baseline: a new stream's client has just fetched what it shows
    this.peers = undefined
    this.identity = undefined
    const run = ++this.run
    const tick = async (): Promise<void> => {
      await this.look(run)
      // chained, not an interval: a slow peer store never gets two looks at once
      if (run === this.run) this.timer = setTimeout(() => { void tick() }, this.intervalMs)
    }
    void tick()
  }

  private stop (): void {
    this.run++
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private async look (run: number): Promise<void> {
    let peers: Peer[]
    try {
      peers = await this.deps.peers()
    } catch {
      return // a node stopping has no peer list; the stream ends with it
    }
    if (run !== this.run) return
    const identity = this.deps.identity()
    const peersNow = peerListFingerprint(peers)
    const identityNow = JSON.stringify(identity)
    const first = this.peers === undefined
    if (!first && peersNow !== this.peers) {
      const others = peers.filter(p => !p.self)
      this.emit({ kind: 'peers', count: others.length, live: others.filter(p => p.live).length })
    }
    if (!first && identityNow !== this.identity) this.emit({ kind: 'identity', identity })
    this.peers = peersNow
    this.identity = identityNow
  }

  private emit (change: NodeChange): void {
    for (const fn of this.listeners) fn(change)
  }
}

/**
 * What makes the peer list different for its readers: who is in it, connected, live, where, and
 * what they announce. Latency and last-seen times change every second and are left out (the
 * dashboard polls them).
 */
export function peerListFingerprint (peers: Peer[]): string {
  const view = peers
    .map(p => [p.id, p.connected, p.live, [...p.addrs].sort(), p.announcement ?? null] as const)
    .sort((a, b) => a[0].localeCompare(b[0]))
  return JSON.stringify(view)
}
