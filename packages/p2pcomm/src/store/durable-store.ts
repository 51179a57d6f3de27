import { randomBytes } from 'node:crypto'
import * as cborg from 'cborg'
import { Key, type Datastore } from 'interface-datastore'
import { decodeEnvelope } from './envelope.js'
import { MemoryStore, recordSetFor, type StoreInit } from './memory-store.js'
import { readV1Log } from './migrate-v1.js'
import type { HeldRecord, RecordSet } from './record-set.js'

/**
 * Records in the node's datastore, one entry per key (its newest record, tombstones included):
 *
 *   /distromash/records/<base64url key>   CBOR [seq, envelope bytes]
 *   /distromash/records-epoch             random bytes made on first start
 *
 * seq orders the change feed peers pull from (sync-protocol.ts); it survives restarts, so a
 * peer's cursor into this node's feed stays valid. The epoch changes only with a new data dir,
 * and tells peers to start over from zero.
 */
const RECORDS = '/distromash/records/'
const EPOCH = new Key('/distromash/records-epoch')
const V1_MIGRATED = new Key('/distromash/store/migrated')

export interface DurableStoreInit extends StoreInit {
  datastore: Datastore
}

export interface MigrationReport {
  /** Records of the unsigned (v1, Yjs) store re-signed by this node */
  resigned: number
  /** Records this node may not sign (another peer's status, desired state when not a writer): left to their authors */
  leftToAuthors: string[]
}

export class DurableStore extends MemoryStore {
  private epochBytes: Uint8Array = new Uint8Array()
  private pending = new Map<string, Uint8Array>()
  private writing: Promise<void> = Promise.resolve()
  private scheduled = false

  private constructor (records: RecordSet, private readonly datastore: Datastore) {
    super(records)
    records.onApplied(held => { this.persist(held) })
  }

  static async open (init: DurableStoreInit): Promise<DurableStore> {
    const store = new DurableStore(await recordSetFor(init), init.datastore)
    await store.load()
    return store
  }

  get epoch (): Uint8Array { return this.epochBytes }

  override async put (key: string, value: Parameters<MemoryStore['put']>[1]): Promise<void> {
    await super.put(key, value)
    await this.flush()
  }

  override async delete (key: string): Promise<boolean> {
    const existed = await super.delete(key)
    await this.flush()
    return existed
  }

  /** Resolves when every record applied so far is on disk */
  async flush (): Promise<void> {
    // immediates run in order: this one runs after the batch scheduled by persist()
    if (this.scheduled) await new Promise(resolve => setImmediate(resolve))
    await this.writing
  }

  async close (): Promise<void> {
    await this.flush()
  }

  /**
   * A data dir from before records were signed holds a Yjs update log. Records this node may
   * sign (its own status; desired state when it is a writer or authorization is off) are
   * re-signed as its own; the others are reported and left to their authors, whose nodes
   * publish them signed. The old log stays in the datastore, untouched.
   */
  async migrateV1 (): Promise<MigrationReport | undefined> {
    if (await this.datastore.has(V1_MIGRATED)) return undefined
    const entries = await readV1Log(this.datastore)
    if (entries == null) return undefined
    const report: MigrationReport = { resigned: 0, leftToAuthors: [] }
    for (const { key, value } of entries) {
      if (await this.get(key) !== undefined) continue
      if (this.denies(key) != null) { report.leftToAuthors.push(key); continue }
      try {
        await this.put(key, value)
        report.resigned++
      } catch {
        report.leftToAuthors.push(key)
      }
    }
    await this.datastore.put(V1_MIGRATED, new TextEncoder().encode(new Date().toISOString()))
    return report
  }

  private async load (): Promise<void> {
    if (await this.datastore.has(EPOCH)) this.epochBytes = await this.datastore.get(EPOCH)
    else {
      this.epochBytes = randomBytes(8)
      await this.datastore.put(EPOCH, this.epochBytes)
    }
    for await (const { value } of this.datastore.query({ prefix: RECORDS })) {
      const [seq, bytes] = cborg.decode(value) as [number, Uint8Array]
      const envelope = decodeEnvelope(bytes)
      // written by this node after it checked the record; a damaged entry is skipped, peers resend it
      if (typeof envelope === 'string') continue
      this.records.restore({ envelope, bytes, seq, value: envelope.value === undefined ? undefined : JSON.parse(envelope.value) } satisfies HeldRecord)
    }
    this.records.sortFeed()
  }

  /** Batched: a sync applies thousands of records in a row, one datastore batch per tick */
  private persist (held: HeldRecord): void {
    this.pending.set(held.envelope.key, cborg.encode([held.seq, held.bytes]))
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      const batch = this.datastore.batch()
      for (const [key, bytes] of this.pending) batch.put(recordKey(key), bytes)
      this.pending = new Map()
      // a failed write is retried by nothing: the record stays applied in memory and peers resend it after a restart
      this.writing = this.writing.then(async () => { await batch.commit() }).catch(() => {})
    })
  }
}

function recordKey (key: string): Key {
  return new Key(RECORDS + Buffer.from(key).toString('base64url'))
}

