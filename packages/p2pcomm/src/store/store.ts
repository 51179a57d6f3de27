/**
 * The replicated key-value store every peer converges on. The rest of DistroMash only sees this
 * interface; the Yjs implementation and its wire protocol stay inside p2pcomm.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

export interface StoreEntry {
  key: string
  value: JsonValue
}

export interface StoreChange {
  key: string
  /** undefined when the key was deleted */
  value: JsonValue | undefined
  /** 'local' for writes made through this node, 'remote' for writes that arrived from peers */
  origin: 'local' | 'remote'
}

export type StoreListener = (change: StoreChange) => void

export interface ReplicatedStore {
  get (key: string): Promise<JsonValue | undefined>
  /** Resolves once the write is durable on this node; peers receive it asynchronously */
  put (key: string, value: JsonValue): Promise<void>
  /** Resolves true when the key existed */
  delete (key: string): Promise<boolean>
  /** Every entry whose key starts with prefix, sorted by key */
  list (prefix?: string): Promise<StoreEntry[]>
  /** Returns the unsubscribe function */
  subscribe (listener: StoreListener): () => void
}

export interface StoreStats {
  keys: number
  /** Gossip or sync messages dropped because they were malformed or oversized */
  droppedMessages: number
  /** Records that arrived but failed validation; they stay invisible */
  invalidRecords: number
  remoteUpdates: number
}
