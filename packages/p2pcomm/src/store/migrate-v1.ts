import { Key, type Datastore } from 'interface-datastore'
import * as Y from 'yjs'
import type { StoreEntry, JsonValue } from './store.js'

/**
 * The unsigned store of DistroMash before signed records: a Yjs document (one Y.Map, "kv")
 * persisted as a snapshot plus an update log. Read once, to migrate a data dir.
 */
const SNAPSHOT = new Key('/distromash/store/snapshot')
const UPDATES = '/distromash/store/updates'

export async function readV1Log (datastore: Datastore): Promise<StoreEntry[] | undefined> {
  const updates: Array<{ seq: number, value: Uint8Array }> = []
  for await (const { key, value } of datastore.query({ prefix: UPDATES })) updates.push({ seq: Number(key.baseNamespace()), value })
  const hasSnapshot = await datastore.has(SNAPSHOT)
  if (!hasSnapshot && updates.length === 0) return undefined
  const doc = new Y.Doc()
  try {
    if (hasSnapshot) Y.applyUpdate(doc, await datastore.get(SNAPSHOT))
    for (const u of updates.sort((a, b) => a.seq - b.seq)) Y.applyUpdate(doc, u.value)
    const map = doc.getMap<JsonValue>('kv')
    return [...map.entries()].map(([key, value]) => ({ key, value }))
  } finally {
    doc.destroy()
  }
}
