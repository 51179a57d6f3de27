import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { Libp2p, PeerId, Stream, Connection } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Logger } from 'pino'
import {
  MAX_GOSSIP_UPDATE_BYTES, MAX_SYNC_MESSAGE_BYTES, STORE_SYNC_PROTOCOL, STORE_TOPIC, SYNC_INTERVAL_MS, SYNC_TIMEOUT_MS
} from '../constants.js'
import { rejectReason } from './update-check.js'
import type { YjsStore } from './yjs-store.js'

export interface StoreReplicatorInit {
  libp2p: Libp2p<{ pubsub: GossipSub }>
  store: YjsStore
  log: Logger
  syncIntervalMs?: number
}

/**
 * Carries store updates between peers two ways:
 * - gossip: every local write is published on STORE_TOPIC (best effort, fast);
 * - anti-entropy: on every new connection and periodically with a random peer, the two sides
 *   swap state vectors and send each other what the other lacks (repairs lost gossip and
 *   lets a peer that was offline catch up).
 *
 * Sync exchange on one length-prefixed stream, initiator A, responder B:
 *   A → B  stateVector(A)
 *   B → A  diff(for A), stateVector(B)
 *   A → B  diff(for B)
 */
export class StoreReplicator {
  private timer?: NodeJS.Timeout
  private readonly unsubscribers: Array<() => void> = []
  private readonly syncing = new Set<string>()

  constructor (private readonly init: StoreReplicatorInit) {}

  async start (): Promise<void> {
    const { libp2p, store } = this.init
    const pubsub = libp2p.services.pubsub
    pubsub.topicValidators.set(STORE_TOPIC, (_peer, msg) => this.validate(msg))
    pubsub.subscribe(STORE_TOPIC)
    const onMessage = (evt: CustomEvent<Message>): void => {
      if (evt.detail.topic === STORE_TOPIC) store.applyRemote(evt.detail.data)
    }
    pubsub.addEventListener('message', onMessage)
    this.unsubscribers.push(() => { pubsub.removeEventListener('message', onMessage) })
    this.unsubscribers.push(store.onLocalUpdate(update => { this.publish(update) }))

    await libp2p.handle(STORE_SYNC_PROTOCOL, (stream, connection) => this.respond(stream, connection), {
      maxInboundStreams: 8, runOnLimitedConnection: false
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

  /** Pull what the peer has and push what it lacks */
  async syncWith (peer: PeerId, options: { signal?: AbortSignal } = {}): Promise<void> {
    const signal = options.signal ?? AbortSignal.timeout(SYNC_TIMEOUT_MS)
    const stream = await this.init.libp2p.dialProtocol(peer, STORE_SYNC_PROTOCOL, { signal })
    const lp = lpStream(stream, { maxDataLength: MAX_SYNC_MESSAGE_BYTES })
    try {
      await lp.write(this.init.store.stateVector(), { signal })
      this.applyOrThrow((await lp.read({ signal })).subarray())
      const theirs = (await lp.read({ signal })).subarray()
      await lp.write(this.init.store.diffFor(theirs), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  private async respond (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_SYNC_MESSAGE_BYTES })
    try {
      const theirs = (await lp.read({ signal })).subarray()
      await lp.writeV([this.init.store.diffFor(theirs), this.init.store.stateVector()], { signal })
      this.applyOrThrow((await lp.read({ signal })).subarray())
      await stream.close({ signal })
    } catch (err) {
      this.init.log.debug({ peer: connection.remotePeer.toString(), err: (err as Error).message }, 'store sync answer failed')
      stream.abort(err as Error)
    }
  }

  private applyOrThrow (update: Uint8Array): void {
    if (!this.init.store.applyRemote(update)) throw new Error('peer sent a malformed store update')
  }

  private validate (msg: Message): TopicValidatorResult {
    const ok = msg.type === 'signed' && msg.data.byteLength <= MAX_GOSSIP_UPDATE_BYTES && rejectReason(msg.data) == null
    if (ok) return TopicValidatorResult.Accept
    this.init.store.countDropped()
    this.init.log.warn({ from: msg.type === 'signed' ? msg.from.toString() : undefined }, 'dropped a malformed store update')
    return TopicValidatorResult.Reject
  }

  private publish (update: Uint8Array): void {
    this.init.libp2p.services.pubsub.publish(STORE_TOPIC, update).catch((err: Error) => {
      // anti-entropy delivers it later; gossip is only the fast path
      this.init.log.debug({ err: err.message }, 'store gossip publish failed')
    })
  }

  private syncSoon (peer: PeerId): void {
    const id = peer.toString()
    if (this.syncing.has(id)) return
    this.syncing.add(id)
    // wait a moment so identify has told us whether the peer speaks the sync protocol
    setTimeout(() => {
      this.syncWith(peer)
        .catch((err: Error) => { this.init.log.debug({ peer: id, err: err.message }, 'store sync failed') })
        .finally(() => { this.syncing.delete(id) })
    }, 200).unref()
  }

  private syncRandomPeer (): void {
    const peers = this.init.libp2p.getPeers()
    const peer = peers[Math.floor(Math.random() * peers.length)]
    if (peer != null) this.syncSoon(peer)
  }
}
