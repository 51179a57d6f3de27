import { checkKey, checkValueShape } from './records.js'
import type { JsonValue, ReplicatedStore, StoreEntry, StoreListener } from './store.js'

/** The in-memory twin of the replicated store: one node, no replication. For unit tests. */
export class MemoryStore implements ReplicatedStore {
  private readonly data = new Map<string, JsonValue>()
  private readonly listeners = new Set<StoreListener>()

  async get (key: string): Promise<JsonValue | undefined> {
    return clone(this.data.get(key))
  }

  async put (key: string, value: JsonValue): Promise<void> {
    checkKey(key)
    checkValueShape(value)
    this.data.set(key, clone(value) as JsonValue)
    this.emit(key, value)
  }

  async delete (key: string): Promise<boolean> {
    const existed = this.data.delete(key)
    if (existed) this.emit(key, undefined)
    return existed
  }

  async list (prefix = ''): Promise<StoreEntry[]> {
    return [...this.data.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => ({ key, value: clone(value) as JsonValue }))
  }

  subscribe (listener: StoreListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private emit (key: string, value: JsonValue | undefined): void {
    for (const listener of this.listeners) listener({ key, value: clone(value), origin: 'local' })
  }
}

function clone<T> (value: T): T {
  return value === undefined ? value : structuredClone(value)
}
