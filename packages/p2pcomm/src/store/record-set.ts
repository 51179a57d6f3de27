import type { PrivateKey } from '@libp2p/interface'
import { MAX_CLOCK_SKEW_MS, MAX_RECORDS_PER_AUTHOR } from '../constants.js'
import { InvalidRecordError, UnauthorizedWriteError } from '../errors.js'
import { compareEnvelopes, EnvelopeVerifier, encodeEnvelope, signEnvelope, type Envelope } from './envelope.js'
import { HybridClock } from './hlc.js'
import { checkKey, parseValue, RecordValidator } from './records.js'
import type { DropReason, JsonValue, StoreChange, StoreEntry, StoreListener, WritePolicy } from './store.js'

/** One key's current record: the envelope as received, its value (undefined: tombstone), its place in the change feed */
export interface HeldRecord {
  envelope: Envelope
  bytes: Uint8Array
  value: JsonValue | undefined
  seq: number
}

export type AcceptResult = { applied: true } | { applied: false, reason: DropReason | 'duplicate', detail?: string }

export interface RecordSetInit {
  /** This node's identity: it signs every local write */
  privateKey: PrivateKey
  peerId: string
  validator?: RecordValidator
  policy?: WritePolicy
  now?: () => number
  /** Records one author may hold (default MAX_RECORDS_PER_AUTHOR) */
  maxRecordsPerAuthor?: number
}

/** Everyone may write everything: the behaviour without a writers file */
export const OPEN_POLICY: WritePolicy = { denies: () => undefined }

/**
 * The state both stores share: key → newest valid signed record, last writer wins by version.
 * A record from the network is applied only when its signature verifies, its author may write
 * its key, its value passes the key's schema and its version is newer than the one held;
 * otherwise it is dropped and counted by reason. Nothing a peer sends can therefore hide or
 * displace a record it could not have signed, and a replayed old record never wins.
 */
export class RecordSet {
  private readonly records = new Map<string, HeldRecord>()
  /** Keys in change order (a Map iterates in insertion order): the sync feed */
  private readonly feed = new Map<number, string>()
  private seq = 0
  private readonly clock: HybridClock
  private readonly verifier = new EnvelopeVerifier()
  private readonly listeners = new Set<StoreListener>()
  private readonly appliedListeners = new Set<(held: HeldRecord, origin: StoreChange['origin']) => void>()
  readonly dropped: Record<DropReason, number> = { malformed: 0, 'bad-signature': 0, unauthorized: 0, stale: 0, future: 0, 'invalid-value': 0, 'rate-limited': 0, 'over-quota': 0 }
  private counters = { applied: 0, duplicates: 0 }
  /** Records held per author, tombstones included: one author cannot fill the store (MAX_RECORDS_PER_AUTHOR) */
  private readonly perAuthor = new Map<string, number>()

  constructor (private readonly init: RecordSetInit) {
    this.clock = new HybridClock(init.now)
  }

  get peerId (): string { return this.init.peerId }
  get lastSeq (): number { return this.seq }

  /** Visible value of a key: undefined when absent or deleted */
  get (key: string): JsonValue | undefined {
    return clone(this.records.get(key)?.value)
  }

  list (prefix = ''): StoreEntry[] {
    const out: StoreEntry[] = []
    for (const [key, held] of this.records) {
      if (held.value !== undefined && key.startsWith(prefix)) out.push({ key, value: clone(held.value) as JsonValue })
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }

  held (key: string): HeldRecord | undefined {
    return this.records.get(key)
  }

  /** Why this node may not write `key`, or undefined */
  denies (key: string): string | undefined {
    return (this.init.policy ?? OPEN_POLICY).denies(key, this.init.peerId)
  }

  /** Sign and apply a local write. Throws on an invalid record or a forbidden key. */
  async write (key: string, value: JsonValue): Promise<HeldRecord> {
    checkKey(key)
    // who may write comes first: a node that may not write a key learns that, not what the value lacks
    this.checkAllowed(key)
    ;(this.init.validator ?? new RecordValidator()).check(key, value)
    return this.sign(key, value)
  }

  /** Sign and apply a tombstone */
  async remove (key: string): Promise<HeldRecord> {
    checkKey(key)
    return this.sign(key, undefined)
  }

  private checkAllowed (key: string): void {
    const why = this.denies(key)
    if (why != null) throw new UnauthorizedWriteError(`this node may not write "${key}": ${why}`, key)
  }

  private async sign (key: string, value: JsonValue | undefined): Promise<HeldRecord> {
    this.checkAllowed(key)
    if (this.overQuota(key, this.init.peerId)) throw new InvalidRecordError(`this node holds ${this.quota} records of its own already`, 'key')
    const version = this.clock.next(this.records.get(key)?.envelope.version)
    const text = value === undefined ? undefined : JSON.stringify(value)
    const envelope = await signEnvelope(this.init.privateKey, this.init.peerId, { key, version, ...(text === undefined ? {} : { value: text }) })
    return this.apply(envelope, encodeEnvelope(envelope), value === undefined ? undefined : JSON.parse(text as string) as JsonValue, 'local')
  }

  /** Apply a record from a peer when it is valid, authorized and newer; otherwise say why not */
  async accept (envelope: Envelope, bytes: Uint8Array): Promise<AcceptResult> {
    const pre = this.precheck(envelope)
    if (pre != null) return this.drop(pre.reason, pre.detail)
    if (!await this.verifier.verify(envelope)) return this.drop('bad-signature', envelope.author)
    // checked again: another record of this key may have been applied while this one was verified
    const again = this.precheck(envelope)
    if (again != null) return this.drop(again.reason, again.detail)
    let value: JsonValue | undefined
    if (envelope.value !== undefined) {
      try {
        value = parseValue(envelope.value)
        ;(this.init.validator ?? new RecordValidator()).check(envelope.key, value)
      } catch (err) {
        return this.drop('invalid-value', (err as Error).message)
      }
    }
    this.clock.observe(envelope.version)
    this.apply(envelope, bytes, value, 'remote')
    return { applied: true }
  }

  subscribe (listener: StoreListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Every applied record, local or remote, for persistence and gossip */
  onApplied (listener: (held: HeldRecord, origin: StoreChange['origin']) => void): () => void {
    this.appliedListeners.add(listener)
    return () => { this.appliedListeners.delete(listener) }
  }

  /** Records changed after `seq`, in change order, up to `maxBytes` (at least one) */
  since (seq: number, maxBytes: number): HeldRecord[] {
    const out: HeldRecord[] = []
    let bytes = 0
    for (const [s, key] of this.feed) {
      if (s <= seq) continue
      const held = this.records.get(key) as HeldRecord
      if (out.length > 0 && bytes + held.bytes.byteLength > maxBytes) break
      out.push(held)
      bytes += held.bytes.byteLength
    }
    return out
  }

  /** Put back a record read from disk: no checks beyond the ones it passed when it arrived, no events */
  restore (held: HeldRecord): void {
    const current = this.records.get(held.envelope.key)
    if (current != null && compareEnvelopes(current.envelope, held.envelope) >= 0) return
    if (current != null) { this.feed.delete(current.seq); this.count(current.envelope.author, -1) }
    this.count(held.envelope.author, 1)
    this.records.set(held.envelope.key, held)
    this.feed.set(held.seq, held.envelope.key)
    this.seq = Math.max(this.seq, held.seq)
    this.clock.observe(held.envelope.version)
  }

  /** restore() places records by their saved seq; the feed must iterate in seq order afterwards */
  sortFeed (): void {
    const entries = [...this.feed.entries()].sort((a, b) => a[0] - b[0])
    this.feed.clear()
    for (const [s, key] of entries) this.feed.set(s, key)
  }

  stats (): { keys: number, tombstones: number, applied: number, duplicates: number, dropped: Record<DropReason, number> } {
    let tombstones = 0
    for (const held of this.records.values()) if (held.value === undefined) tombstones++
    return { keys: this.records.size - tombstones, tombstones, ...this.counters, dropped: { ...this.dropped } }
  }

  countDropped (reason: DropReason): void {
    this.dropped[reason]++
  }

  private precheck (e: Envelope): { reason: DropReason | 'duplicate', detail?: string } | undefined {
    try { checkKey(e.key) } catch (err) { return { reason: 'malformed', detail: (err as Error).message } }
    const now = (this.init.now ?? Date.now)()
    if (e.version.ms > now + MAX_CLOCK_SKEW_MS) return { reason: 'future', detail: `${e.version.ms - now} ms ahead` }
    const why = (this.init.policy ?? OPEN_POLICY).denies(e.key, e.author)
    if (why != null) return { reason: 'unauthorized', detail: why }
    if (this.overQuota(e.key, e.author)) return { reason: 'over-quota', detail: e.author }
    const held = this.records.get(e.key)
    if (held == null) return undefined
    const order = compareEnvelopes(e, held.envelope)
    if (order > 0) return undefined
    return order === 0 ? { reason: 'duplicate' } : { reason: 'stale', detail: e.key }
  }

  /** A new key for an author that holds MAX_RECORDS_PER_AUTHOR already */
  private overQuota (key: string, author: string): boolean {
    if (this.records.get(key)?.envelope.author === author) return false
    return (this.perAuthor.get(author) ?? 0) >= this.quota
  }

  private get quota (): number { return this.init.maxRecordsPerAuthor ?? MAX_RECORDS_PER_AUTHOR }

  private count (author: string, by: number): void {
    const n = (this.perAuthor.get(author) ?? 0) + by
    if (n <= 0) this.perAuthor.delete(author)
    else this.perAuthor.set(author, n)
  }

  private drop (reason: DropReason | 'duplicate', detail?: string): AcceptResult {
    if (reason === 'duplicate') this.counters.duplicates++
    else this.dropped[reason]++
    return { applied: false, reason, ...(detail != null ? { detail } : {}) }
  }

  private apply (envelope: Envelope, bytes: Uint8Array, value: JsonValue | undefined, origin: StoreChange['origin']): HeldRecord {
    const { key } = envelope
    const previous = this.records.get(key)
    if (previous != null) { this.feed.delete(previous.seq); this.count(previous.envelope.author, -1) }
    this.count(envelope.author, 1)
    const held: HeldRecord = { envelope, bytes, value, seq: ++this.seq }
    this.records.set(key, held)
    this.feed.set(held.seq, key)
    if (origin === 'remote') this.counters.applied++
    for (const listener of this.appliedListeners) listener(held, origin)
    if (previous?.value === undefined && value === undefined) return held
    for (const listener of this.listeners) listener({ key, value: clone(value), origin, author: envelope.author })
    return held
  }
}

function clone<T> (value: T): T {
  return value === undefined ? value : structuredClone(value)
}
