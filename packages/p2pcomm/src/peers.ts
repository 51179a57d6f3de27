import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import { ANNOUNCE_INTERVAL_MS, ANNOUNCE_TOPIC } from './constants.js'
import { decodeAnnouncement, encodeAnnouncement, type Announcement } from './announcement.js'

/** One entry of the live peer list */
export interface Peer {
  id: string
  self: boolean
  addrs: string[]
  connected: boolean
  /** Round trip in ms, from libp2p's connection monitor */
  latencyMs?: number
  /** ISO time the peer was last heard from (connection, announcement); now for self */
  lastSeen?: string
  /** Heard from within the liveness window, directly or through the mesh */
  live: boolean
  announcement?: Announcement
}

interface Heard {
  announcement?: Announcement
  lastSeen: number
  latencyMs?: number
}

export interface PeerDirectoryInit {
  libp2p: Libp2p<{ pubsub: GossipSub }>
  log: Logger
  self: () => Omit<Announcement, 'addrs'>
  announceIntervalMs?: number
  /** Dial peers learned from announcements while below this many connections */
  targetConnections?: number
}

/**
 * Every peer this node knows of: libp2p's peer store and open connections, plus what peers
 * announce over gossip (which reaches peers we are not directly connected to).
 */
export class PeerDirectory {
  private readonly heard = new Map<string, Heard>()
  private readonly counters = { droppedAnnouncements: 0 }
  private timer?: NodeJS.Timeout
  private readonly cleanup: Array<() => void> = []

  constructor (private readonly init: PeerDirectoryInit) {}

  get announceIntervalMs (): number {
    return this.init.announceIntervalMs ?? ANNOUNCE_INTERVAL_MS
  }

  start (): void {
    const { libp2p } = this.init
    const pubsub = libp2p.services.pubsub
    pubsub.topicValidators.set(ANNOUNCE_TOPIC, (_peer, msg) => this.validate(msg))
    pubsub.subscribe(ANNOUNCE_TOPIC)
    const onMessage = (evt: CustomEvent<Message>): void => { this.onAnnouncement(evt.detail) }
    pubsub.addEventListener('message', onMessage)
    const onConnection = (evt: CustomEvent<PeerId>): void => { this.touch(evt.detail.toString()) }
    libp2p.addEventListener('peer:connect', onConnection)
    libp2p.addEventListener('peer:disconnect', onConnection)
    this.cleanup.push(() => {
      pubsub.removeEventListener('message', onMessage)
      libp2p.removeEventListener('peer:connect', onConnection)
      libp2p.removeEventListener('peer:disconnect', onConnection)
      pubsub.topicValidators.delete(ANNOUNCE_TOPIC)
    })
    this.timer = setInterval(() => { this.announce(); void this.reconnect() }, this.announceIntervalMs)
    this.timer.unref()
    this.announce()
  }

  stop (): void {
    clearInterval(this.timer)
    this.cleanup.splice(0).forEach(fn => { fn() })
  }

  stats (): { droppedAnnouncements: number } {
    return { ...this.counters }
  }

  /** The live peer list, this node first */
  async list (): Promise<Peer[]> {
    const { libp2p } = this.init
    const now = Date.now()
    const ids = new Set<string>(this.heard.keys())
    for (const p of await libp2p.peerStore.all()) ids.add(p.id.toString())
    for (const p of libp2p.getPeers()) ids.add(p.toString())
    ids.delete(libp2p.peerId.toString())
    const others = await Promise.all([...ids].map(async id => this.describe(id, now)))
    return [this.describeSelf(now), ...others.sort((a, b) => a.id.localeCompare(b.id))]
  }

  /** Peer IDs heard from within the liveness window, self included, sorted */
  async livePeerIds (): Promise<string[]> {
    return (await this.list()).filter(p => p.live).map(p => p.id).sort()
  }

  private describeSelf (now: number): Peer {
    const addrs = this.init.libp2p.getMultiaddrs().map(a => a.toString())
    return { id: this.init.libp2p.peerId.toString(), self: true, addrs, connected: true, lastSeen: new Date(now).toISOString(), live: true, announcement: { ...this.init.self(), addrs } }
  }

  private async describe (id: string, now: number): Promise<Peer> {
    const { libp2p } = this.init
    const peerId = peerIdFromString(id)
    const connections = libp2p.getConnections(peerId)
    const heard = this.heard.get(id)
    const rtt = connections.map(c => c.rtt).find((r): r is number => typeof r === 'number')
    if (rtt != null && heard != null) heard.latencyMs = rtt
    const stored = await libp2p.peerStore.get(peerId).catch(() => undefined)
    const addrs = new Set<string>([
      ...(stored?.addresses.map(a => a.multiaddr.toString()) ?? []),
      ...(heard?.announcement?.addrs ?? [])
    ])
    const connected = connections.length > 0
    const lastSeen = connected ? now : heard?.lastSeen
    return {
      id,
      self: false,
      addrs: [...addrs],
      connected,
      latencyMs: rtt ?? heard?.latencyMs,
      lastSeen: lastSeen == null ? undefined : new Date(lastSeen).toISOString(),
      live: connected || (lastSeen != null && now - lastSeen < this.announceIntervalMs * 3),
      announcement: heard?.announcement
    }
  }

  private touch (id: string): void {
    const heard = this.heard.get(id) ?? { lastSeen: 0 }
    heard.lastSeen = Date.now()
    this.heard.set(id, heard)
  }

  private announce (): void {
    const addrs = this.init.libp2p.getMultiaddrs().map(a => a.toString())
    const data = encodeAnnouncement({ ...this.init.self(), addrs })
    this.init.libp2p.services.pubsub.publish(ANNOUNCE_TOPIC, data).catch(() => { /* no peers yet */ })
  }

  /**
   * Connections drop (a missed ping under load, a restart) and nothing in libp2p redials peers
   * that are not bootstrap peers; a few redials per tick keep the mesh whole, which keeps the
   * peer list live and gives bitswap and gossip direct paths.
   */
  private async reconnect (): Promise<void> {
    const { libp2p } = this.init
    if (libp2p.getConnections().length >= (this.init.targetConnections ?? 64)) return
    const recent = Date.now() - 10 * 60_000
    const candidates = [...this.heard.entries()]
      .filter(([id, h]) => h.lastSeen > recent && h.announcement != null && libp2p.getConnections(peerIdFromString(id)).length === 0)
      .sort(() => Math.random() - 0.5)
      .slice(0, 4)
    await Promise.all(candidates.map(async ([id, h]) => this.learn(peerIdFromString(id), h.announcement as Announcement)))
  }

  private validate (msg: Message): TopicValidatorResult {
    if (msg.type === 'signed' && decodeAnnouncement(msg.data) != null) return TopicValidatorResult.Accept
    this.counters.droppedAnnouncements++
    return TopicValidatorResult.Reject
  }

  private onAnnouncement (msg: Message): void {
    if (msg.topic !== ANNOUNCE_TOPIC || msg.type !== 'signed') return
    const announcement = decodeAnnouncement(msg.data)
    if (announcement == null) return
    const id = msg.from.toString()
    this.touch(id)
    const heard = this.heard.get(id)
    if (heard != null) heard.announcement = announcement
    void this.learn(msg.from, announcement)
  }

  /** Remember a peer heard through the mesh, and connect to it while the node has few connections */
  private async learn (peer: PeerId, announcement: Announcement): Promise<void> {
    const { libp2p } = this.init
    if (libp2p.getConnections(peer).length > 0) return
    const addrs = announcement.addrs.flatMap(a => { try { return [multiaddr(a)] } catch { return [] } })
    try {
      await libp2p.peerStore.merge(peer, { multiaddrs: addrs })
      if (libp2p.getConnections().length < (this.init.targetConnections ?? 64)) {
        await libp2p.dial(peer, { signal: AbortSignal.timeout(10_000) })
      }
    } catch (err) {
      this.init.log.debug({ peer: peer.toString(), err: (err as Error).message }, 'could not reach announced peer')
    }
  }
}
