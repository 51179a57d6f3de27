import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { decodeEnvelope } from './envelope.js'
import { RecordSet, type AcceptResult, type HeldRecord } from './record-set.js'
import type { RecordValidator } from './records.js'
import type { DropReason, JsonValue, ReplicatedStore, StoreEntry, StoreListener, StoreStats, WritePolicy } from './store.js'

export interface StoreInit {
  /** Signs every local write; a fresh Ed25519 key when absent */
  privateKey?: PrivateKey
  validator?: RecordValidator
  policy?: WritePolicy
  now?: () => number
  /** Records one author may hold (default MAX_RECORDS_PER_AUTHOR) */
  maxRecordsPerAuthor?: number
}

/**
 * The in-memory twin of the replicated store: the same signed records and acceptance rules as
 * the durable store, on one node, with no persistence and no network. For unit tests.
 */
export class MemoryStore implements ReplicatedStore {
  protected constructor (protected readonly records: RecordSet) {}

  static async create (init: StoreInit = {}): Promise<MemoryStore> {
    return new MemoryStore(await recordSetFor(init))
  }

  get peerId (): string { return this.records.peerId }

  async get (key: string): Promise<JsonValue | undefined> { return this.records.get(key) }

  async put (key: string, value: JsonValue): Promise<void> {
    await this.records.write(key, value)
  }

  async delete (key: string): Promise<boolean> {
    if (this.records.get(key) === undefined) return false
    await this.records.remove(key)
    return true
  }

  denies (key: string): string | undefined { return this.records.denies(key) }

  async list (prefix = ''): Promise<StoreEntry[]> { return this.records.list(prefix) }

  subscribe (listener: StoreListener): () => void { return this.records.subscribe(listener) }

  /** A record from a peer, as it travels: applied when valid, authorized and newer */
  async receive (received: Uint8Array): Promise<AcceptResult> {
    // the store keeps these bytes (to persist, to serve in sync): they must be its own, not a view
    // into a buffer the network layer may reuse
    const bytes = received.slice()
    const envelope = decodeEnvelope(bytes)
    if (typeof envelope === 'string') {
      this.records.countDropped('malformed')
      return { applied: false, reason: 'malformed', detail: envelope }
    }
    return this.records.accept(envelope, bytes)
  }

  /** Every record written or applied here, in the form peers receive it */
  onRecord (listener: (bytes: Uint8Array, origin: 'local' | 'remote') => void): () => void {
    return this.records.onApplied((held: HeldRecord, origin) => { listener(held.bytes, origin) })
  }

  /** Records changed after `seq`, in change order, as they travel */
  since (seq: number, maxBytes: number): Array<{ seq: number, bytes: Uint8Array }> {
    return this.records.since(seq, maxBytes).map(h => ({ seq: h.seq, bytes: h.bytes }))
  }

  get lastSeq (): number { return this.records.lastSeq }

  /** Count a message the transport refused before it reached receive() */
  countDropped (reason: DropReason): void { this.records.countDropped(reason) }

  stats (): StoreStats {
    const s = this.records.stats()
    const droppedMessages = Object.values(s.dropped).reduce((a, b) => a + b, 0)
    return { keys: s.keys, tombstones: s.tombstones, droppedMessages, dropped: s.dropped, remoteUpdates: s.applied, duplicates: s.duplicates }
  }
}

export async function recordSetFor (init: StoreInit): Promise<RecordSet> {
  const privateKey = init.privateKey ?? await generateKeyPair('Ed25519')
  return new RecordSet({ privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), validator: init.validator, policy: init.policy, now: init.now, maxRecordsPerAuthor: init.maxRecordsPerAuthor })
}
