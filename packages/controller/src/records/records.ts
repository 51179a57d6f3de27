import type { CidRecord, ImageRecord } from '@distromash/multiplatform2ipfs'
import { cidRecordSchema, imageRecordSchema } from '@distromash/multiplatform2ipfs'
import type { JsonValue, ReplicatedStore, StoreChange, StoreEntry } from '@distromash/p2pcomm'
import type { ZodType } from 'zod'
import { ASSIGNMENT_PREFIX, IMAGE_PREFIX, STATUS_PREFIX, STRATEGY_PREFIX, keyOf, parseKey, type RecordKey } from './keys.js'
import {
  AssignmentSchema, ReplicationStatusSchema, StrategyRecordSchema,
  type Assignment, type ReplicationStatus, type StrategyRecord
} from './schemas.js'

export type StatusCell = ReplicationStatus & { peerId: string }

/** A change of one record, typed by its kind; value undefined when it was deleted */
export type RecordChange = (
  | { kind: 'image', nametag: string, value?: ImageRecord }
  | { kind: 'cid', cid: string, value?: CidRecord }
  | { kind: 'strategy', key: string, value?: StrategyRecord }
  | { kind: 'assignment', key: string, value?: Assignment }
  | { kind: 'status', peerId: string, image: string, value?: ReplicationStatus }
  | { kind: 'other', key: string, value?: JsonValue }
) & { storeKey: string, origin: StoreChange['origin'], author: string }

/**
 * The one home of the records the nodes share: every key prefix, its schema (schemas.ts), who
 * may write it (policy.ts), and typed access. Nothing else builds or parses a store key. Reads
 * return only records that pass their schema; the store has already dropped the rest on
 * arrival, so this is a second line, not the check.
 */
export class Records {
  constructor (readonly store: ReplicatedStore, readonly self: string) {}

  async strategies (): Promise<StrategyRecord[]> {
    return (await this.store.list(STRATEGY_PREFIX)).flatMap(e => parsed(StrategyRecordSchema, e.value) ?? [])
  }

  async strategy (key: string): Promise<StrategyRecord | undefined> {
    return parsed(StrategyRecordSchema, await this.store.get(keyOf({ kind: 'strategy', key })))
  }

  async putStrategy (record: StrategyRecord): Promise<void> {
    await this.store.put(keyOf({ kind: 'strategy', key: record.key }), record)
  }

  /** The strategy and its assignment */
  async deleteStrategy (key: string): Promise<boolean> {
    const existed = await this.store.delete(keyOf({ kind: 'strategy', key }))
    await this.store.delete(keyOf({ kind: 'assignment', key }))
    return existed
  }

  async assignment (key: string): Promise<Assignment | undefined> {
    return parsed(AssignmentSchema, await this.store.get(keyOf({ kind: 'assignment', key })))
  }

  async putAssignment (key: string, assignment: Assignment): Promise<void> {
    await this.store.put(keyOf({ kind: 'assignment', key }), assignment)
  }

  /** Status records of every peer, or of one */
  async statuses (peerId?: string): Promise<StatusCell[]> {
    const prefix = peerId == null ? STATUS_PREFIX : `${STATUS_PREFIX}${peerId}/`
    return (await this.store.list(prefix)).flatMap(e => {
      const key = parseKey(e.key)
      const status = parsed(ReplicationStatusSchema, e.value)
      return key.kind === 'status' && status != null ? [{ ...status, peerId: key.peerId }] : []
    })
  }

  async status (peerId: string, image: string): Promise<ReplicationStatus | undefined> {
    return parsed(ReplicationStatusSchema, await this.store.get(keyOf({ kind: 'status', peerId, image })))
  }

  /** This node's status of an image: no node can write another's */
  async putStatus (image: string, status: ReplicationStatus): Promise<void> {
    await this.store.put(keyOf({ kind: 'status', peerId: this.self, image }), status)
  }

  async deleteStatus (image: string): Promise<void> {
    await this.store.delete(keyOf({ kind: 'status', peerId: this.self, image }))
  }

  async image (nametag: string): Promise<ImageRecord | undefined> {
    return parsed(imageRecordSchema, await this.store.get(keyOf({ kind: 'image', nametag })))
  }

  /** Images recorded under `<name>:` (a prefix: the caller compares names exactly) */
  async images (name?: string): Promise<ImageRecord[]> {
    return (await this.store.list(IMAGE_PREFIX + (name == null ? '' : `${name}:`))).flatMap(e => parsed(imageRecordSchema, e.value) ?? [])
  }

  async cid (cid: string): Promise<CidRecord | undefined> {
    return parsed(cidRecordSchema, await this.store.get(keyOf({ kind: 'cid', cid })))
  }

  /** An image under its name and its root CID */
  async putImage (record: ImageRecord): Promise<void> {
    await this.store.put(keyOf({ kind: 'image', nametag: `${record.name}:${record.tag}` }), record)
    await this.store.put(keyOf({ kind: 'cid', cid: record.cid }), { name: record.name, tag: record.tag })
  }

  /** Why this node may not write desired state (strategies, assignments, images), or undefined */
  deniesDesiredState (): string | undefined {
    return this.store.denies(STRATEGY_PREFIX) ?? this.store.denies(ASSIGNMENT_PREFIX) ?? this.store.denies(IMAGE_PREFIX)
  }

  /** Raw entries (the DistroMash-compatible /crdt API), with the store's own checks */
  async entries (prefix?: string): Promise<StoreEntry[]> { return this.store.list(prefix) }

  /** Typed changes, as records are written here or arrive */
  watch (listener: (change: RecordChange) => void): () => void {
    return this.store.subscribe(change => {
      const key = parseKey(change.key)
      listener({ ...key, ...typedValue(key, change.value), storeKey: change.key, origin: change.origin, author: change.author } as RecordChange)
    })
  }
}

const SCHEMAS: Partial<Record<RecordKey['kind'], ZodType>> = {
  image: imageRecordSchema, cid: cidRecordSchema, strategy: StrategyRecordSchema, assignment: AssignmentSchema, status: ReplicationStatusSchema
}

function typedValue (key: RecordKey, value: JsonValue | undefined): { value?: unknown } {
  if (value === undefined) return {}
  const schema = SCHEMAS[key.kind]
  return schema == null ? { value } : { value: parsed(schema, value) }
}

function parsed<T> (schema: ZodType<T>, value: unknown): T | undefined {
  const result = schema.safeParse(value)
  return result.success ? result.data : undefined
}
