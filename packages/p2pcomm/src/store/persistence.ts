import { Key, type Datastore } from 'interface-datastore'

/**
 * Durable log of store updates in the node's datastore:
 *
 *   /distromash/store/snapshot          the whole state, written at compaction
 *   /distromash/store/updates/<seq>     every update since, in order (seq zero-padded)
 *
 * Appends are serialised so that the log order is the order the document saw them.
 */
const SNAPSHOT = new Key('/distromash/store/snapshot')
const UPDATES = '/distromash/store/updates'

export class UpdateLog {
  private seq = 0
  private pending = 0
  private tail: Promise<void> = Promise.resolve()

  constructor (private readonly datastore: Datastore) {}

  /** Everything persisted: the snapshot first, then updates in order */
  async load (): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    if (await this.datastore.has(SNAPSHOT)) out.push(await this.datastore.get(SNAPSHOT))
    const updates: Array<{ seq: number, value: Uint8Array }> = []
    for await (const { key, value } of this.datastore.query({ prefix: UPDATES })) {
      updates.push({ seq: Number(key.baseNamespace()), value })
    }
    updates.sort((a, b) => a.seq - b.seq)
    this.seq = updates.at(-1)?.seq ?? 0
    this.pending = updates.length
    return [...out, ...updates.map(u => u.value)]
  }

  get size (): number {
    return this.pending
  }

  append (update: Uint8Array): Promise<void> {
    const seq = ++this.seq
    this.pending++
    return this.enqueue(async () => { await this.datastore.put(updateKey(seq), update) })
  }

  /** Replace the log up to now by one snapshot of the whole state */
  compact (state: Uint8Array): Promise<void> {
    const upTo = this.seq
    this.pending = 0
    return this.enqueue(async () => {
      const batch = this.datastore.batch()
      batch.put(SNAPSHOT, state)
      for await (const key of this.datastore.queryKeys({ prefix: UPDATES })) {
        if (Number(key.baseNamespace()) <= upTo) batch.delete(key)
      }
      await batch.commit()
    })
  }

  /** Resolves when every append made so far is on disk */
  flush (): Promise<void> {
    return this.enqueue(async () => {})
  }

  private enqueue (task: () => Promise<void>): Promise<void> {
    const next = this.tail.then(task)
    // keep the chain alive after a failure; the caller of this task still sees the error
    this.tail = next.catch(() => {})
    return next
  }
}

function updateKey (seq: number): Key {
  return new Key(`${UPDATES}/${String(seq).padStart(16, '0')}`)
}
