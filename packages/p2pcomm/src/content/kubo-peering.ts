/*
 * Keeps a sidecar's Kubo connected to the mesh, so its bitswap finds the blocks the mesh holds.
 *
 * A Kubo dials its Bootstrap list only while it has fewer than 4 connections, and its DHTs keep
 * only peers whose addresses they consider LAN or public: the Kubos of one mesh may never meet.
 * So the node gives its Kubo, as peering (Kubo keeps a peered connection open and redials it),
 * every live member of the mesh: each DistroMash node and the Kubo each sidecar node announces.
 * Peering set through the RPC lives in the daemon only: nothing is written to Kubo's config, and
 * a Kubo restarted is given its peers again at the next round.
 */
import type { Logger } from 'pino'

export interface KuboPeer {
  /** Peer ID */
  id: string
  /** Multiaddrs without /p2p/ */
  addrs: string[]
}

export interface KuboPeeringInit {
  /** Kubo's RPC API, e.g. http://127.0.0.1:5001 */
  url: string
  /** Who the Kubo should be connected to now (the node's own Kubo is left out here) */
  peers: () => Promise<KuboPeer[]>
  log: Logger
  /** How often the peering is brought up to date (default 15 s) */
  intervalMs?: number
}

const DEFAULT_INTERVAL_MS = 15_000
/** Addresses given to Kubo per peer: enough for every interface of a host */
const MAX_ADDRS = 8

export class KuboPeering {
  private readonly base: string
  private readonly added = new Map<string, string>()
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined

  constructor (private readonly init: KuboPeeringInit) {
    this.base = init.url.replace(/\/+$/, '')
  }

  /** The Kubo's own peer ID and addresses, for the node to announce */
  async identity (signal?: AbortSignal): Promise<KuboPeer> {
    const id = await this.rpc<{ ID: string, Addresses: string[] | null }>('id', [], signal)
    const addrs = (id.Addresses ?? []).map(a => a.replace(/\/p2p\/[^/]+$/, '')).filter(a => !a.includes('/p2p-circuit'))
    return { id: id.ID, addrs: [...new Set(addrs)].slice(0, MAX_ADDRS) }
  }

  start (): void {
    const round = (): void => {
      this.running = this.sync().catch(err => { this.init.log.debug({ err: (err as Error).message }, 'Kubo peering round failed') })
      void this.running.finally(() => { if (this.timer !== undefined) this.timer = setTimeout(round, this.init.intervalMs ?? DEFAULT_INTERVAL_MS) })
    }
    this.timer = setTimeout(round, 0)
  }

  async stop (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    await this.running
  }

  /** Peer the Kubo with everyone wanted that it is not peered with yet, and unpeer who left */
  async sync (): Promise<void> {
    const wanted = new Map((await this.init.peers()).filter(p => p.addrs.length > 0).map(p => [p.id, p]))
    for (const [id, peer] of wanted) {
      const key = peer.addrs.slice(0, MAX_ADDRS).join(' ')
      if (this.added.get(id) === key) continue
      // Kubo's peering takes one multiaddr per call; several of one peer add up
      for (const addr of peer.addrs.slice(0, MAX_ADDRS)) await this.rpc('swarm/peering/add', [`${addr}/p2p/${id}`])
      this.added.set(id, key)
    }
    for (const id of [...this.added.keys()]) {
      if (wanted.has(id)) continue
      await this.rpc('swarm/peering/rm', [id]).catch(() => {})
      this.added.delete(id)
    }
  }

  private async rpc<T = unknown> (command: string, args: string[], signal?: AbortSignal): Promise<T> {
    const query = args.map(a => `arg=${encodeURIComponent(a)}`).join('&')
    const res = await fetch(`${this.base}/api/v0/${command}${query === '' ? '' : `?${query}`}`, { method: 'POST', signal: signal ?? AbortSignal.timeout(10_000) })
    const text = await res.text()
    if (!res.ok) throw new Error(`Kubo ${command}: ${res.status} ${text.slice(0, 200)}`)
    return (text === '' ? undefined : JSON.parse(text)) as T
  }
}
