import type { WritePolicy } from '@distromash/p2pcomm'
import { ownerOf } from './keys.js'

/**
 * Who may sign which records:
 * - `status/<peer>/…`: that peer only, whatever the writers file says;
 * - everything else is desired state (images, CIDs, strategies, assignments, and any other key
 *   written through the raw store API): the writers, or every peer when there is no writers file.
 * Peer announcements travel on their own gossip topic, signed by the announcing peer itself.
 */
export function writePolicy (writers: ReadonlySet<string> | undefined): WritePolicy {
  return {
    denies (key, author) {
      const owner = ownerOf(key)
      if (owner != null) return owner === author ? undefined : 'a status record is written only by the peer it describes'
      if (writers == null || writers.has(author)) return undefined
      return 'desired state is written only by the peers in the writers file'
    }
  }
}

/** What the banner, /health, /api/v1/identity and the dashboard say */
export interface WriteAuthorization {
  enabled: boolean
  writers: number
  /** Whether this node may write desired state */
  selfIsWriter: boolean
  summary: string
}

export function describeAuthorization (writers: ReadonlySet<string> | undefined, self: string): WriteAuthorization {
  if (writers == null) {
    return { enabled: false, writers: 0, selfIsWriter: true, summary: 'off (no writers file: every holder of the swarm key may change what hosts pull)' }
  }
  const selfIsWriter = writers.has(self)
  return { enabled: true, writers: writers.size, selfIsWriter, summary: `on, ${writers.size} writer${writers.size === 1 ? '' : 's'}${selfIsWriter ? ' (this node is one)' : ' (this node is not one)'}` }
}
