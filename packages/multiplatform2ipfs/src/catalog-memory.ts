import type { KeyValueStore } from './catalog.js'

/** The in-memory twin of the mesh store (one node, no replication), for tests and tools. */
class MemoryKeyValueStore implements KeyValueStore {
  private readonly data = new Map<string, string>()

  async get (key: string): Promise<unknown> {
    const value = this.data.get(key)
    // stored as JSON so callers never share mutable objects with the store, as with the real one
    return value === undefined ? undefined : JSON.parse(value)
  }

  async put (key: string, value: unknown): Promise<void> {
    this.data.set(key, JSON.stringify(value))
  }

  async list (prefix: string): Promise<Array<{ key: string, value: unknown }>> {
    return [...this.data.keys()].filter(key => key.startsWith(prefix)).sort()
      .map(key => ({ key, value: JSON.parse(this.data.get(key) ?? 'null') }))
  }

  async delete (key: string): Promise<boolean> {
    return this.data.delete(key)
  }
}

export function memoryKeyValueStore (): KeyValueStore {
  return new MemoryKeyValueStore()
}
