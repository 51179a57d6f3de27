import type { CID } from 'multiformats/cid'
import type { Content } from '../content/content.js'
import type { Collector } from './collector.js'

/**
 * Content whose writers, fetches and pins keep the collector off their blocks: a writer or a
 * fetch holds them from its start until it ends (a writer also at its first failed put) (and the collector's grace window covers the
 * moment until they are pinned); a block a writer finds already here is touched, as if written
 * now; a pin is recorded while no sweep runs.
 */
export function collectedContent (content: Content, collector: Collector, touch: (cid: CID) => void): Content {
  return {
    backend: content.backend,
    get: async (cid, options) => await content.get(cid, options),
    has: async (cid, options) => await content.has(cid, options),
    put: async (cid, bytes, options) => { await content.put(cid, bytes, options) },
    writer: options => {
      const release = collector.hold()
      const writer = content.writer(options)
      return {
        put: async (cid, bytes, put) => {
          try {
            await writer.put(cid, bytes, put)
          } catch (err) {
            // a failed writer is done (its user may never close or abort it): what it wrote is garbage
            release()
            throw err
          }
        },
        has: async (cid, has) => {
          const held = await writer.has(cid, has)
          if (held) touch(cid)
          return held
        },
        close: async () => { try { await writer.close() } finally { release() } },
        abort: reason => { release(); writer.abort(reason) }
      }
    },
    fetch: async (roots, options) => {
      const release = collector.hold()
      try {
        return await content.fetch(roots, options)
      } finally {
        release()
      }
    },
    pin: async (cid, options) => { await collector.pinning(async () => { await content.pin(cid, options) }) },
    unpin: async (cid, options) => { await content.unpin(cid, options) },
    pinned: options => content.pinned(options),
    isPinned: async (cid, options) => await content.isPinned(cid, options),
    stat: async options => await content.stat(options)
  }
}
