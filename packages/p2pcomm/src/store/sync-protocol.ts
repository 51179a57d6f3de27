import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { Libp2p, PeerId, Stream, Connection } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import * as cborg from 'cborg'
import type { Logger } from 'pino'
import {
  BLOCK_MS, GOSSIP_RECORDS_BURST, MAX_SYNC_ROUNDS, GOSSIP_RECORDS_PER_S, REJECTS_BEFORE_BLOCK, MAX_CONCURRENT_PULLS, MAX_SYNC_ANSWERS, MAX_SYNC_MESSAGE_BYTES, STORE_SYNC_PROTOCOL, STORE_TOPIC, SYNC_CHUNK_BYTES, SYNC_INTERVAL_MS, SYNC_TIMEOUT_MS
} from '../constants.js'
import type { DurableStore } from './durable-store.js'
import type { AcceptResult } from './record-set.js'
import { PenaltyBox, RateLimiter } from './rate-limiter.js'

export interface StoreReplicatorInit {
  libp2p: Libp2p<{ pubsub: GossipSub }>
  store: DurableStore
  log: Logger
  syncIntervalMs?: number
}

/** Where this node stands in a peer's change feed */
interface Cursor { epoch: Uint8Array, seq: number }

/**
 * Carries signed records between peers two ways:
 * - gossip: every record written here is published on STORE_TOPIC; the topic validator applies
 *   a record (once decoded and verified) before gossipsub forwards it, so nothing invalid is
 *   forwarded, and an invalid record costs its sender gossipsub score;
 * - pull sync: on every new connection and periodically with a random peer, a node asks the
 *   peer for the records it changed after the cursor kept for that peer, one chunk of about
 *   SYNC_CHUNK_BYTES per request. Only one chunk is in flight, so neither side buffers more
 *   than one message, and the cursor moves after every applied chunk: a sync cut short resumes
 *   where it stopped, and a store of any size reaches a new node. Both ends of a new
 *   connection pull, so both sides converge. (An answer must not trigger a pull back: two
 *   peers would then pull from each other in an endless loop.)
 *
 * Wire (one length-prefixed stream, CBOR maps), puller A, answerer B, repeated until end:
 *   A → B  {e: epoch of B's feed the cursor is in (empty at first), s: seq A holds up to}
 *   B → A  {e: B's epoch, r: [record, …], s: seq of the last record, end: true when no more}
 * When the epochs differ (B's data dir is new to A), B answers from the start of its feed.
 */
export class StoreReplicator {
  private timer?: NodeJS.Timeout
  private readonly unsubscribers: Array<() => void> = []
  private readonly syncing = new Set<string>()
  private readonly queued = new Map<string, PeerId>()
  private readonly cursors = new Map<string, Cursor>()
  private answering = 0
  private readonly rate = new RateLimiter(GOSSIP_RECORDS_PER_S, GOSSIP_RECORDS_BURST)
  private readonly penalties = new PenaltyBox(REJECTS_BEFORE_BLOCK, BLOCK_MS)
  private readonly traffic = { gossipIn: 0, gossipOut: 0, syncIn: 0, syncOut: 0 }

  constructor (private readonly init: StoreReplicatorInit) {}

  async start (): Promise<void> {
    const { libp2p, store } = this.init
    const pubsub = libp2p.services.pubsub
    pubsub.topicValidators.set(STORE_TOPIC, async (peer, msg) => this.validate(peer, msg))
    pubsub.subscribe(STORE_TOPIC)
    this.unsubscribers.push(store.onRecord((bytes, origin) => { if (origin === 'local') this.publish(bytes) }))

    await libp2p.handle(STORE_SYNC_PROTOCOL, (stream, connection) => this.answer(stream, connection), {
      maxInboundStreams: 1, maxOutboundStreams: 1, runOnLimitedConnection: false
    })
    const onConnect = (evt: CustomEvent<Connection>): void => { this.syncSoon(evt.detail.remotePeer) }
    libp2p.addEventListener('connection:open', onConnect)
    this.unsubscribers.push(() => { libp2p.removeEventListener('connection:open', onConnect) })
    this.timer = setInterval(() => { this.syncRandomPeer() }, this.init.syncIntervalMs ?? SYNC_INTERVAL_MS)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    this.unsubscribers.splice(0).forEach(fn => { fn() })
    this.init.libp2p.services.pubsub.topicValidators.delete(STORE_TOPIC)
    await this.init.libp2p.unhandle(STORE_SYNC_PROTOCOL)
  }

  /**
   * Messages since start: gossip received from neighbours (before validation) and published by
   * this node; sync messages received and sent, both as puller and as answerer
   */
  messages (): { gossipIn: number, gossipOut: number, syncIn: number, syncOut: number } {
    return { ...this.traffic }
  }

  /** Pull every record the peer changed since the last pull from it */
  async syncWith (peer: PeerId): Promise<{ applied: number }> {
    const id = peer.toString()
    const stream = await this.init.libp2p.dialProtocol(peer, STORE_SYNC_PROTOCOL, { signal: AbortSignal.timeout(SYNC_TIMEOUT_MS) })
    const lp = lpStream(stream, { maxDataLength: MAX_SYNC_MESSAGE_BYTES, maxBufferSize: MAX_SYNC_MESSAGE_BYTES * 2 })
    let applied = 0
    try {
      const cursor: Cursor = { ...(this.cursors.get(id) ?? { epoch: new Uint8Array(), seq: 0 }) }
      // a session takes at most MAX_SYNC_ROUNDS chunks: an answerer cannot keep a pull slot for
      // ever; the cursor is kept, so the next pull goes on from there
      for (let round = 0; round < MAX_SYNC_ROUNDS; round++) {
        await lp.write(cborg.encode({ e: cursor.epoch, s: cursor.seq }), { signal: AbortSignal.timeout(SYNC_TIMEOUT_MS) })
        this.traffic.syncOut++
        const msg = await readMessage(lp)
        this.traffic.syncIn++
        if (!(msg.e instanceof Uint8Array) || msg.e.byteLength > 64 || !isSeq(msg.s) || !Array.isArray(msg.r)) throw new Error('peer sent a malformed sync answer')
        if (msg.r.length === 0 && msg.end !== true) throw new Error('peer sent an empty chunk that is not the last')
        applied += await this.applyChunk(msg.r as unknown[])
        this.cursors.set(id, { epoch: msg.e, seq: msg.s })
        Object.assign(cursor, { epoch: msg.e, seq: msg.s })
        if (msg.end === true) break
      }
      await stream.close({ signal: AbortSignal.timeout(SYNC_TIMEOUT_MS) })
      this.init.log.debug({ peer: id, applied }, 'store sync done')
      return { applied }
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  /** Records a peer sent; a record its sender could not have accepted (undecodable, forged) ends the sync */
  private async applyChunk (records: unknown[]): Promise<number> {
    let applied = 0
    for (const bytes of records) {
      if (!(bytes instanceof Uint8Array)) {
        this.init.store.countDropped('malformed')
        throw new Error('peer sent a malformed record')
      }
      const result = await this.init.store.receive(bytes)
      if (result.applied) applied++
      else if (result.reason === 'malformed' || result.reason === 'bad-signature') throw new Error(`peer sent a ${result.reason} record`)
    }
    return applied
  }

  private async answer (stream: Stream, connection: Connection): Promise<void> {
    const { store } = this.init
    // one global budget for what answers hold in flight, however many peers ask at once
    if (this.answering >= MAX_SYNC_ANSWERS) {
      stream.abort(new Error('too many sync answers in flight'))
      return
    }
    this.answering++
    const lp = lpStream(stream, { maxDataLength: 256 })
    try {
      for (let end = false; !end;) {
        const ask = await readMessage(lp)
        this.traffic.syncIn++
        if (!(ask.e instanceof Uint8Array) || !isSeq(ask.s)) throw new Error('malformed sync request')
        const from = sameBytes(ask.e, store.epoch) ? ask.s : 0
        const chunk = store.since(from, SYNC_CHUNK_BYTES)
        const last = chunk.at(-1)?.seq ?? Math.min(from, store.lastSeq)
        end = last >= store.lastSeq
        await lp.write(cborg.encode({ e: store.epoch, r: chunk.map(c => c.bytes), s: last, end }), { signal: AbortSignal.timeout(SYNC_TIMEOUT_MS) })
        this.traffic.syncOut++
      }
      await stream.close({ signal: AbortSignal.timeout(SYNC_TIMEOUT_MS) })
    } catch (err) {
      this.init.log.debug({ peer: connection.remotePeer.toString(), err: (err as Error).message }, 'store sync answer failed')
      stream.abort(err as Error)
    } finally {
      this.answering--
    }
  }

  /**
   * Gossip: applied here before it is forwarded, at most GOSSIP_RECORDS_PER_S from one neighbour
   * (beyond, ignored: pull sync brings what was real). What no honest relay forwards — a record
   * that does not decode or verify — is rejected, which costs the neighbour gossipsub score; a
   * record that is only not for us (unauthorized by our writers file, failing our schema: a
   * neighbour with another configuration may accept it) is ignored, not punished.
   */
  private async validate (neighbour: PeerId, msg: Message): Promise<TopicValidatorResult> {
    this.traffic.gossipIn++
    const via = neighbour.toString()
    if (this.penalties.blocked(via) || !this.rate.take(via)) {
      this.init.store.countDropped('rate-limited')
      return TopicValidatorResult.Ignore
    }
    if (msg.type !== 'signed') {
      this.init.store.countDropped('malformed')
      return TopicValidatorResult.Reject
    }
    const result: AcceptResult = await this.init.store.receive(msg.data)
    if (result.applied) return TopicValidatorResult.Accept
    if (result.reason === 'malformed' || result.reason === 'bad-signature') {
      // gossipsub's score graylists the neighbour only at its next heartbeat: stop decoding it now
      this.penalties.add(via)
      this.init.log.warn({ from: msg.from.toString(), via: neighbour.toString(), reason: result.reason, detail: result.detail }, 'rejected a store record')
      return TopicValidatorResult.Reject
    }
    if (result.reason === 'unauthorized' || result.reason === 'invalid-value') this.init.log.warn({ from: msg.from.toString(), reason: result.reason, detail: result.detail }, 'dropped a store record')
    return TopicValidatorResult.Ignore
  }

  private publish (bytes: Uint8Array): void {
    this.init.libp2p.services.pubsub.publish(STORE_TOPIC, bytes).then(() => { this.traffic.gossipOut++ }, (err: Error) => {
      // pull sync delivers it later; gossip is only the fast path
      this.init.log.debug({ err: err.message }, 'store gossip publish failed')
    })
  }

  /** Queue a pull from the peer; at most MAX_CONCURRENT_PULLS run at once, whatever the number of connections */
  private syncSoon (peer: PeerId): void {
    const id = peer.toString()
    if (this.syncing.has(id) || this.queued.has(id)) return
    this.queued.set(id, peer)
    // wait a moment so identify has told us whether the peer speaks the sync protocol
    setTimeout(() => { this.drain() }, 200).unref()
  }

  private drain (): void {
    for (const [id, peer] of this.queued) {
      if (this.syncing.size >= MAX_CONCURRENT_PULLS) return
      this.queued.delete(id)
      this.syncing.add(id)
      this.syncWith(peer)
        .catch((err: Error) => { this.init.log.debug({ peer: id, err: err.message }, 'store sync failed') })
        .finally(() => { this.syncing.delete(id); this.drain() })
    }
  }

  private syncRandomPeer (): void {
    const peers = this.init.libp2p.getPeers()
    const peer = peers[Math.floor(Math.random() * peers.length)]
    if (peer != null) this.syncSoon(peer)
  }
}

async function readMessage (lp: LengthPrefixedStream<Stream>): Promise<Record<string, unknown>> {
  const bytes = (await lp.read({ signal: AbortSignal.timeout(SYNC_TIMEOUT_MS) })).subarray()
  let msg: unknown
  try { msg = cborg.decode(bytes) } catch { throw new Error('undecodable sync message') }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new Error('sync message is not a map')
  return msg as Record<string, unknown>
}

function isSeq (x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i])
}
