import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Connection, Libp2p, PeerId, Peer as StoredPeer } from '@libp2p/interface'
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
  /** ISO time this node last had a direct connection to the peer; now while connected */
  lastConnected?: string
  /**
   * A member of the mesh now: connected, directly connected within the liveness window, or
   * announced through a neighbour within it (at most MAX_INTRODUCED_PER_NEIGHBOUR such peers
   * per neighbour count, so one connection cannot make thousands of identities live)
   */
  live: boolean
  announcement?: Announcement
}

interface Heard {
  announcement?: Announcement
  lastSeen: number
  /** Last time directly connected (0: never) */
  lastConnected: number
  /** The neighbour whose gossip introduced the peer, while it has never been connected */
  via?: string
  latencyMs?: number
}

/** Peers remembered at most; ones never connected go first */
const MAX_HEARD = 1024
/** Never-connected peers one neighbour may introduce; more are dropped and counted */
const MAX_INTRODUCED_PER_NEIGHBOUR = 64
/** A never-connected peer not heard of for this long is forgotten */
const FORGET_UNCONNECTED_MS = 10 * 60_000
/** Dials of announced peers at once, and how soon the same peer is dialled again */
const MAX_LEARN_DIALS = 4
const REDIAL_AFTER_MS = 15_000
/**
 * A connection open this long whose peer gossipsub does not know gets identify again (twice
 * identify's 5 s timeout, so the connection's own first identify has ended), that peer at most
 * once per this long, and at most this many per tick (see repairGossip)
 */
const REPAIR_AFTER_MS = 10_000
const MAX_REPAIRS = 4

export interface PeerDirectoryInit {
  libp2p: Libp2p<{ pubsub: GossipSub, identify: Identify }>
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
  private readonly gossip = { in: 0, out: 0 }
  private readonly dialing = new Map<string, number>()
  /** Peer → when its connection last got identify again */
  private readonly repairing = new Map<string, number>()
  private repairRunning = false
  private dialsInFlight = 0
  private timer?: NodeJS.Timeout
  private readonly cleanup: Array<() => void> = []

  constructor (private readonly init: PeerDirectoryInit) {}

  get announceIntervalMs (): number {
    return this.init.announceIntervalMs ?? ANNOUNCE_INTERVAL_MS
  }

  start (): void {
    const { libp2p } = this.init
    const pubsub = libp2p.services.pubsub
    pubsub.topicValidators.set(ANNOUNCE_TOPIC, (neighbour, msg) => this.validate(neighbour, msg))
    pubsub.subscribe(ANNOUNCE_TOPIC)
    const onMessage = (evt: CustomEvent<Message>): void => { this.onAnnouncement(evt.detail) }
    pubsub.addEventListener('message', onMessage)
    const onConnection = (evt: CustomEvent<PeerId>): void => { this.touch(evt.detail.toString(), true) }
    libp2p.addEventListener('peer:connect', onConnection)
    libp2p.addEventListener('peer:disconnect', onConnection)
    this.cleanup.push(() => {
      pubsub.removeEventListener('message', onMessage)
      libp2p.removeEventListener('peer:connect', onConnection)
      libp2p.removeEventListener('peer:disconnect', onConnection)
      pubsub.topicValidators.delete(ANNOUNCE_TOPIC)
    })
    this.timer = setInterval(() => { this.announce(); void this.reconnect(); void this.repairGossip() }, this.announceIntervalMs)
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

  /** Announcements received from neighbours (before validation) and published by this node, since start */
  gossipMessages (): { in: number, out: number } {
    return { ...this.gossip }
  }

  /** The live peer list, this node first */
  async list (): Promise<Peer[]> {
    const { libp2p } = this.init
    const now = Date.now()
    // one read of the whole peer store: a get per peer waits on that peer's lock, which the
    // DHT and identify hold while they write (~0.1 s per peer while an import's CIDs are announced)
    const stored = new Map((await libp2p.peerStore.all()).map(p => [p.id.toString(), p]))
    const ids = new Set<string>([...this.heard.keys(), ...stored.keys()])
    for (const p of libp2p.getPeers()) ids.add(p.toString())
    ids.delete(libp2p.peerId.toString())
    const others = [...ids].map(id => this.describe(id, now, stored.get(id)))
    return [this.describeSelf(now), ...others.sort((a, b) => a.id.localeCompare(b.id))]
  }

  /** Peer IDs heard from within the liveness window, self included, sorted */
  async livePeerIds (): Promise<string[]> {
    return (await this.list()).filter(p => p.live).map(p => p.id).sort()
  }

  private describeSelf (now: number): Peer {
    const addrs = this.init.libp2p.getMultiaddrs().map(a => a.toString())
    const at = new Date(now).toISOString()
    return { id: this.init.libp2p.peerId.toString(), self: true, addrs, connected: true, lastSeen: at, lastConnected: at, live: true, announcement: { ...this.init.self(), addrs } }
  }

  private describe (id: string, now: number, stored?: StoredPeer): Peer {
    const { libp2p } = this.init
    const peerId = peerIdFromString(id)
    const connections = libp2p.getConnections(peerId)
    const heard = this.heard.get(id)
    const rtt = connections.map(c => c.rtt).find((r): r is number => typeof r === 'number')
    if (rtt != null && heard != null) heard.latencyMs = rtt
    const addrs = new Set<string>([
      ...(stored?.addresses.map(a => a.multiaddr.toString()) ?? []),
      ...(heard?.announcement?.addrs ?? [])
    ])
    const connected = connections.length > 0
    if (connected && heard != null) { heard.lastConnected = now; heard.via = undefined }
    const lastSeen = connected ? now : heard?.lastSeen
    const lastConnected = connected ? now : (heard?.lastConnected ?? 0)
    const window = this.announceIntervalMs * 3
    return {
      id,
      self: false,
      addrs: [...addrs],
      connected,
      latencyMs: rtt ?? heard?.latencyMs,
      lastSeen: lastSeen == null ? undefined : new Date(lastSeen).toISOString(),
      ...(lastConnected > 0 ? { lastConnected: new Date(lastConnected).toISOString() } : {}),
      live: connected || now - lastConnected < window || (lastSeen != null && now - lastSeen < window),
      announcement: heard?.announcement
    }
  }

  private touch (id: string, connected = false): void {
    const heard = this.heard.get(id) ?? { lastSeen: 0, lastConnected: 0 }
    heard.lastSeen = Date.now()
    if (connected) { heard.lastConnected = heard.lastSeen; heard.via = undefined }
    this.heard.set(id, heard)
  }

  /**
   * A peer first heard of through a neighbour's gossip: remembered only while that neighbour has
   * introduced fewer than MAX_INTRODUCED_PER_NEIGHBOUR peers never connected, and within
   * MAX_HEARD (the never-connected heard longest ago are forgotten first).
   */
  private introduce (id: string, via: string): boolean {
    if (this.heard.has(id)) return true
    let introduced = 0
    for (const h of this.heard.values()) if (h.via === via) introduced++
    if (introduced >= MAX_INTRODUCED_PER_NEIGHBOUR) return false
    this.heard.set(id, { lastSeen: Date.now(), lastConnected: 0, via })
    this.forget()
    return true
  }

  /** Drops never-connected peers heard of long ago, and the oldest of them past MAX_HEARD */
  private forget (): void {
    const now = Date.now()
    const unconnected = [...this.heard.entries()].filter(([, h]) => h.lastConnected === 0).sort((a, b) => a[1].lastSeen - b[1].lastSeen)
    let excess = this.heard.size - MAX_HEARD
    for (const [id, h] of unconnected) {
      if (excess > 0 || now - h.lastSeen > FORGET_UNCONNECTED_MS) { this.heard.delete(id); excess-- }
    }
  }

  private announce (): void {
    const addrs = this.init.libp2p.getMultiaddrs().map(a => a.toString())
    const data = encodeAnnouncement({ ...this.init.self(), addrs })
    this.init.libp2p.services.pubsub.publish(ANNOUNCE_TOPIC, data).then(() => { this.gossip.out++ }, () => { /* no peers yet */ })
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

  /**
   * libp2p tells gossipsub of a connection (registrar topologies) only once identify has named
   * the peer's protocols, and it runs identify once per connection with a 5 s timeout. A node
   * busy starting up answers late, so identify can fail on both ends of its first connection:
   * the connection then stays open (pings pass, the bootstrap keeper is content) but gossipsub
   * never uses it, so no announcement crosses it. Peers learn of each other only from
   * announcements, so when that connection is a new node's only one, nobody ever dials the node
   * nor it anybody: in bench/scale 3 nodes of one start-up batch of 4 stayed connected to their
   * bootstrap peer alone, unknown to the 26 others (what bench/propagation at 20 nodes showed as
   * an early node lacking the last batch). libp2p also drops a peer from gossipsub while
   * connected when it reconnects during its own disconnect handling. So each tick, a connection
   * open for REPAIR_AFTER_MS to a peer gossipsub does not know gets identify again: success
   * emits peer:identify, gossipsub opens its stream and the far end adds us on that stream.
   * Peers that completed identify without speaking gossipsub (a Kubo daemon) are left alone.
   */
  private async repairGossip (): Promise<void> {
    if (this.repairRunning) return // a tick under load can outlast the interval
    this.repairRunning = true
    try {
      const { libp2p } = this.init
      const now = Date.now()
      for (const [id, at] of this.repairing) if (now - at >= REPAIR_AFTER_MS) this.repairing.delete(id)
      const gossip = new Set(libp2p.services.pubsub.getPeers().map(p => p.toString()))
      const stale = new Map<string, Connection>()
      for (const connection of libp2p.getConnections()) {
        const id = connection.remotePeer.toString()
        if (gossip.has(id) || stale.has(id) || this.repairing.has(id) || connection.status !== 'open' || now - connection.timeline.open < REPAIR_AFTER_MS) continue
        stale.set(id, connection)
      }
      let started = 0
      for (const [id, connection] of stale) {
        if (started >= MAX_REPAIRS) break
        const stored = await libp2p.peerStore.get(connection.remotePeer).catch(() => undefined)
        const identified = stored?.metadata.has('AgentVersion') === true
        if (identified && stored?.protocols.some(p => p.startsWith('/meshsub/')) !== true) continue
        this.repairing.set(id, Date.now())
        started++
        this.init.log.info({ peer: id }, 'connection without gossip: running identify again')
        void libp2p.services.identify.identify(connection, { signal: AbortSignal.timeout(REPAIR_AFTER_MS) })
          .catch((err: Error) => { this.init.log.info({ peer: id, err: err.message }, 'identify again failed') })
      }
    } finally {
      this.repairRunning = false
    }
  }

  private validate (neighbour: PeerId, msg: Message): TopicValidatorResult {
    this.gossip.in++
    const announcement = msg.type === 'signed' ? decodeAnnouncement(msg.data) : undefined
    if (msg.type !== 'signed' || announcement == null) {
      this.counters.droppedAnnouncements++
      return TopicValidatorResult.Reject
    }
    const id = msg.from.toString()
    if (id === this.init.libp2p.peerId.toString()) return TopicValidatorResult.Ignore
    // one neighbour cannot bring in identities without end: not remembered, not forwarded
    if (this.init.libp2p.getConnections(msg.from).length === 0 && !this.introduce(id, neighbour.toString())) {
      this.counters.droppedAnnouncements++
      return TopicValidatorResult.Ignore
    }
    return TopicValidatorResult.Accept
  }

  private onAnnouncement (msg: Message): void {
    if (msg.topic !== ANNOUNCE_TOPIC || msg.type !== 'signed') return
    const announcement = decodeAnnouncement(msg.data)
    const heard = this.heard.get(msg.from.toString())
    if (announcement == null || heard == null) return
    heard.lastSeen = Date.now()
    heard.announcement = announcement
    void this.learn(msg.from, announcement)
  }

  /**
   * Connect to a peer heard through the mesh while the node has few connections. Its addresses
   * are dialled directly, not merged into the persistent peer store: only peers that answer a
   * dial (libp2p records them then) are kept across restarts.
   */
  private async learn (peer: PeerId, announcement: Announcement): Promise<void> {
    const { libp2p } = this.init
    const id = peer.toString()
    const last = this.dialing.get(id)
    if (libp2p.getConnections(peer).length > 0 || (last != null && Date.now() - last < REDIAL_AFTER_MS)) return
    if (libp2p.getConnections().length >= (this.init.targetConnections ?? 64) || this.dialsInFlight >= MAX_LEARN_DIALS) return
    const addrs = announcement.addrs.flatMap(a => {
      try { return [multiaddr(a.includes('/p2p/') ? a : `${a}/p2p/${id}`)] } catch { return [] }
    })
    if (addrs.length === 0) return
    this.dialing.set(id, Date.now())
    if (this.dialing.size > MAX_HEARD) this.dialing.delete(this.dialing.keys().next().value as string)
    this.dialsInFlight++
    try {
      await libp2p.dial(addrs, { signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      this.init.log.debug({ peer: id, err: (err as Error).message }, 'could not reach announced peer')
      // a failed dial leaves the peer in libp2p's persistent peer store: only peers ever reached stay
      if ((this.heard.get(id)?.lastConnected ?? 0) === 0) await libp2p.peerStore.delete(peer).catch(() => {})
    } finally {
      this.dialsInFlight--
    }
  }
}
