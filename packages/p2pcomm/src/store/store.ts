/**
 * The replicated key-value store every peer converges on. The rest of DistroMash only sees this
 * interface; the signed-record implementation and its wire protocol stay inside p2pcomm.
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
  /** Peer ID that signed the record (for a delete: the tombstone's author) */
  author: string
}

export type StoreListener = (change: StoreChange) => void

/**
 * Every record is signed by its author's peer key; a store accepts a record only from an author
 * its policy allows for that key. p2pcomm knows nothing of what keys mean: the policy does.
 */
export interface WritePolicy {
  /** Why `author` may not write `key`, or undefined when it may */
  denies (key: string, author: string): string | undefined
}

/** Why a record from the network was not applied */
export type DropReason = 'malformed' | 'bad-signature' | 'unauthorized' | 'stale' | 'future' | 'invalid-value' | 'rate-limited' | 'over-quota'

export interface ReplicatedStore {
  get (key: string): Promise<JsonValue | undefined>
  /**
   * Signs the record with this node's key and resolves once it is durable here; peers receive it
   * asynchronously. Throws InvalidRecordError (bad key or value) or UnauthorizedWriteError.
   */
  put (key: string, value: JsonValue): Promise<void>
  /** Writes a signed tombstone; resolves true when the key existed */
  delete (key: string): Promise<boolean>
  /** Why this node may not write `key` (the write would throw), or undefined */
  denies (key: string): string | undefined
  /** Every entry whose key starts with prefix, sorted by key */
  list (prefix?: string): Promise<StoreEntry[]>
  /** Returns the unsubscribe function */
  subscribe (listener: StoreListener): () => void
}

export interface StoreStats {
  keys: number
  tombstones: number
  /** Records and messages from peers that were not applied, in total and by reason */
  droppedMessages: number
  dropped: Record<DropReason, number>
  /** Records from peers applied here */
  remoteUpdates: number
  /** Records received again (gossip and sync both deliver most records): not a fault */
  duplicates: number
}
