import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import { REDIAL_MAX_MS, REDIAL_MIN_MS } from './constants.js'

/**
 * Keeps the node connected to every peer in data/peerstore, redialling with capped exponential
 * backoff for as long as the node runs. libp2p's own reconnect queue gives up after a few
 * tries, which would leave a node alone for good after its bootstrap peer restarts.
 */
export class BootstrapKeeper {
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private readonly backoff = new Map<string, number>()
  private stopped = false

  constructor (private readonly libp2p: Libp2p, private readonly addrs: Multiaddr[], private readonly log: Logger) {}

  start (): void {
    for (const addr of this.addrs) {
      const peer = peerOf(addr)
      if (peer == null || peer.equals(this.libp2p.peerId)) continue
      this.schedule(addr, peer, 0)
    }
  }

  stop (): void {
    this.stopped = true
    for (const timer of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
  }

  private schedule (addr: Multiaddr, peer: PeerId, delay: number): void {
    if (this.stopped) return
    const key = addr.toString()
    const timer = setTimeout(() => { void this.tick(addr, peer) }, delay)
    timer.unref()
    this.timers.set(key, timer)
  }

  private async tick (addr: Multiaddr, peer: PeerId): Promise<void> {
    const key = addr.toString()
    if (this.libp2p.getConnections(peer).length > 0) {
      this.backoff.delete(key)
      this.schedule(addr, peer, REDIAL_MIN_MS * 2)
      return
    }
    try {
      await this.libp2p.dial(addr, { signal: AbortSignal.timeout(10_000) })
      this.backoff.delete(key)
      this.log.info({ peer: peer.toString() }, 'connected to bootstrap peer')
      this.schedule(addr, peer, REDIAL_MIN_MS * 2)
    } catch (err) {
      const next = Math.min((this.backoff.get(key) ?? REDIAL_MIN_MS / 2) * 2, REDIAL_MAX_MS)
      this.backoff.set(key, next)
      this.log.debug({ addr: key, retryMs: next, err: (err as Error).message }, 'bootstrap dial failed')
      this.schedule(addr, peer, next)
    }
  }
}

function peerOf (addr: Multiaddr): PeerId | undefined {
  const id = addr.getComponents().find(c => c.name === 'p2p')?.value
  return id == null ? undefined : peerIdFromString(id)
}
