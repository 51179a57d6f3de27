import * as Y from 'yjs'
import type { Datastore } from 'interface-datastore'
import { COMPACT_AFTER_UPDATES } from '../constants.js'
import { RecordValidator } from './records.js'
import { UpdateLog } from './persistence.js'
import { ROOT_MAP, rejectReason } from './update-check.js'
import type { JsonValue, ReplicatedStore, StoreEntry, StoreListener, StoreStats } from './store.js'

const LOCAL = Symbol('local')
const REMOTE = Symbol('remote')
const LOADED = Symbol('loaded')

export interface YjsStoreInit {
  datastore: Datastore
  validator?: RecordValidator
  compactAfter?: number
}

export type UpdateListener = (update: Uint8Array) => void

/**
 * The replicated store on a Yjs document: a Y.Map of JSON values. Yjs resolves concurrent
 * writes to the same key the same way on every peer and keeps deletes as tombstones, so peers
 * that exchange all updates converge. Transport (gossip, sync) lives in sync-protocol.ts.
 */
export class YjsStore implements ReplicatedStore {
  readonly doc = new Y.Doc()
  private readonly map = this.doc.getMap<JsonValue>(ROOT_MAP)
  private readonly log: UpdateLog
  private readonly validator: RecordValidator
  private readonly compactAfter: number
  private readonly listeners = new Set<StoreListener>()
  private readonly localUpdateListeners = new Set<UpdateListener>()
  private readonly counters = { droppedMessages: 0, invalidRecords: 0, remoteUpdates: 0 }
  private readonly invalidSeen = new WeakSet<object>()

  constructor (init: YjsStoreInit) {
    this.log = new UpdateLog(init.datastore)
    this.validator = init.validator ?? new RecordValidator()
    this.compactAfter = init.compactAfter ?? COMPACT_AFTER_UPDATES
  }

  async start (): Promise<void> {
    for (const update of await this.log.load()) Y.applyUpdate(this.doc, update, LOADED)
    this.doc.on('update', (update: Uint8Array, origin: unknown) => { this.onUpdate(update, origin) })
    this.map.observe((event, txn) => { this.onMapEvent(event, txn) })
  }

  async stop (): Promise<void> {
    await this.log.flush()
    this.doc.destroy()
  }

  async get (key: string): Promise<JsonValue | undefined> {
    return this.visible(key, this.map.get(key))
  }

  async put (key: string, value: JsonValue): Promise<void> {
    this.validator.check(key, value)
    this.doc.transact(() => { this.map.set(key, structuredClone(value)) }, LOCAL)
    await this.log.flush()
  }

  async delete (key: string): Promise<boolean> {
    if (!this.map.has(key)) return false
    this.doc.transact(() => { this.map.delete(key) }, LOCAL)
    await this.log.flush()
    return true
  }

  async list (prefix = ''): Promise<StoreEntry[]> {
    const out: StoreEntry[] = []
    for (const [key, raw] of this.map.entries()) {
      if (!key.startsWith(prefix)) continue
      const value = this.visible(key, raw)
      if (value !== undefined) out.push({ key, value })
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }

  subscribe (listener: StoreListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  stats (): StoreStats {
    return { keys: this.map.size, ...this.counters }
  }

  /** Local writes, to be gossiped */
  onLocalUpdate (listener: UpdateListener): () => void {
    this.localUpdateListeners.add(listener)
    return () => { this.localUpdateListeners.delete(listener) }
  }

  /** Apply an update from a peer; a malformed one is dropped and counted. Returns whether it was applied. */
  applyRemote (update: Uint8Array): boolean {
    if (rejectReason(update) != null) {
      this.counters.droppedMessages++
      return false
    }
    try {
      Y.applyUpdate(this.doc, update, REMOTE)
    } catch {
      this.counters.droppedMessages++
      return false
    }
    this.counters.remoteUpdates++
    return true
  }

  /** Count a message the transport refused before it reached applyRemote */
  countDropped (): void {
    this.counters.droppedMessages++
  }

  stateVector (): Uint8Array {
    return Y.encodeStateVector(this.doc)
  }

  /** What a peer with this state vector is missing; throws on a malformed vector */
  diffFor (stateVector: Uint8Array): Uint8Array {
    return Y.encodeStateAsUpdate(this.doc, stateVector)
  }

  private onUpdate (update: Uint8Array, origin: unknown): void {
    if (origin === LOADED) return
    void this.log.append(update).catch(() => { /* surfaced by the next flush() */ })
    if (this.log.size >= this.compactAfter) void this.log.compact(Y.encodeStateAsUpdate(this.doc)).catch(() => {})
    if (origin === LOCAL) for (const listener of this.localUpdateListeners) listener(update)
  }

  private onMapEvent (event: Y.YMapEvent<JsonValue>, txn: Y.Transaction): void {
    if (txn.origin === LOADED) return
    const origin = txn.origin === LOCAL ? 'local' : 'remote'
    for (const key of event.keysChanged) {
      const value = this.visible(key, this.map.get(key))
      for (const listener of this.listeners) listener({ key, value, origin })
    }
  }

  /** A remote value that fails its schema stays in the document but is never shown */
  private visible (key: string, value: JsonValue | undefined): JsonValue | undefined {
    if (value === undefined) return undefined
    if (this.validator.isValid(key, value)) return structuredClone(value)
    if (typeof value === 'object' && value !== null && !this.invalidSeen.has(value)) {
      this.invalidSeen.add(value)
      this.counters.invalidRecords++
    }
    return undefined
  }
}
