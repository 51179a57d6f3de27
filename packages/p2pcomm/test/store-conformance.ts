import { describe, expect, it } from 'vitest'
import type { ReplicatedStore, StoreChange, WritePolicy } from '../src/store/store.js'

/** One suite for every ReplicatedStore: the in-memory twin and the durable store run it alike, signing on. */
export function storeConformance (name: string, make: (policy?: WritePolicy) => Promise<ReplicatedStore>): void {
  describe(`${name} conformance`, () => {
    it('puts, gets and overwrites JSON values', async () => {
      const store = await make()
      await store.put('image/busybox:1.35.0', { cid: 'bafy', size: 3 })
      expect(await store.get('image/busybox:1.35.0')).toEqual({ cid: 'bafy', size: 3 })
      await store.put('image/busybox:1.35.0', 'x')
      expect(await store.get('image/busybox:1.35.0')).toBe('x')
      expect(await store.get('missing')).toBeUndefined()
    })

    it('returns copies, not live references', async () => {
      const store = await make()
      const value = { a: [1] }
      await store.put('k', value)
      value.a.push(2)
      const read = await store.get('k') as { a: number[] }
      read.a.push(3)
      expect(await store.get('k')).toEqual({ a: [1] })
    })

    it('deletes and says whether the key existed', async () => {
      const store = await make()
      await store.put('k', 1)
      expect(await store.delete('k')).toBe(true)
      expect(await store.delete('k')).toBe(false)
      expect(await store.get('k')).toBeUndefined()
    })

    it('lists by prefix in key order', async () => {
      const store = await make()
      for (const key of ['status/b/1', 'status/a/1', 'strategy/x', 'status/a/2']) await store.put(key, key)
      expect((await store.list('status/')).map(e => e.key)).toEqual(['status/a/1', 'status/a/2', 'status/b/1'])
      expect((await store.list()).length).toBe(4)
    })

    it('notifies subscribers of puts and deletes until unsubscribed', async () => {
      const store = await make()
      const seen: StoreChange[] = []
      const off = store.subscribe(c => seen.push(c))
      await store.put('k', 1)
      await store.delete('k')
      off()
      await store.put('k', 2)
      const author = (store as unknown as { peerId: string }).peerId
      expect(seen).toEqual([{ key: 'k', value: 1, origin: 'local', author }, { key: 'k', value: undefined, origin: 'local', author }])
    })

    it('rejects bad keys and values with an error naming the field', async () => {
      const store = await make()
      await expect(store.put('', 1)).rejects.toMatchObject({ name: 'InvalidRecordError', field: 'key' })
      await expect(store.put('x'.repeat(513), 1)).rejects.toMatchObject({ field: 'key' })
      await expect(store.put('k\n', 1)).rejects.toMatchObject({ field: 'key' })
      await expect(store.put('k', 'x'.repeat(300 * 1024))).rejects.toMatchObject({ field: 'value' })
      await expect(store.put('k', undefined as never)).rejects.toMatchObject({ field: 'value' })
      let deep: unknown = 1
      for (let i = 0; i < 3000; i++) deep = [deep]
      await expect(store.put('k', deep as never)).rejects.toMatchObject({ field: 'value', message: expect.stringMatching(/nested deeper/) })
      await expect(store.put('k', new Array(20_000).fill(0))).rejects.toMatchObject({ field: 'value', message: expect.stringMatching(/more than 10000 elements/) })
    })

    it('refuses a write its policy forbids, with a named error, and writes nothing', async () => {
      const store = await make({ denies: key => key.startsWith('strategy/') ? 'not a writer' : undefined })
      expect(store.denies('strategy/x')).toBe('not a writer')
      await expect(store.put('strategy/x', 1)).rejects.toMatchObject({ name: 'UnauthorizedWriteError', key: 'strategy/x' })
      expect(await store.get('strategy/x')).toBeUndefined()
      await store.put('status/x', 1)
      expect(await store.get('status/x')).toBe(1)
    })
  })
}
