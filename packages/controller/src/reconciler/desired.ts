import type { ReplicatedStore } from '@distromash/p2pcomm'
import { ASSIGNMENT_PREFIX, AssignmentSchema, STRATEGY_PREFIX, StrategyRecordSchema } from '../strategies/strategy.js'
import { ReplicationStatusSchema, STATUS_PREFIX, type ReplicationStatus } from './status.js'

/**
 * Desired state of one node: every image an executing strategy has assigned to it.
 * An image stays desired while any executing strategy selects this peer.
 */
export async function desiredImages (store: ReplicatedStore, peerId: string): Promise<Map<string, string[]>> {
  const desired = new Map<string, string[]>()
  for (const { key, value } of await store.list(STRATEGY_PREFIX)) {
    const strategy = StrategyRecordSchema.safeParse(value)
    if (!strategy.success || !strategy.data.execute) continue
    const name = key.slice(STRATEGY_PREFIX.length)
    const assignment = AssignmentSchema.safeParse(await store.get(ASSIGNMENT_PREFIX + name))
    if (!assignment.success || !assignment.data.peers.includes(peerId)) continue
    desired.set(strategy.data.nametag, [...(desired.get(strategy.data.nametag) ?? []), name])
  }
  return desired
}

/** This node's own status records, by image */
export async function ownStatuses (store: ReplicatedStore, peerId: string): Promise<Map<string, ReplicationStatus>> {
  const out = new Map<string, ReplicationStatus>()
  const prefix = `${STATUS_PREFIX}${peerId}/`
  for (const { key, value } of await store.list(prefix)) {
    const status = ReplicationStatusSchema.safeParse(value)
    if (status.success) out.set(key.slice(prefix.length), status.data)
  }
  return out
}

/** Who replicates one image now: the swarm a fetch splits its work across (see p2pcomm's swarmFetch) */
export interface ImageSwarm {
  /** Peers that hold the whole image: its importer and every peer that reached pinned/loaded */
  holders: string[]
  /** Peers assigned the image that do not hold it yet, sorted: the same list on every node */
  pullers: string[]
}

export async function imageSwarm (store: ReplicatedStore, image: string, cid: string, importedBy?: string): Promise<ImageSwarm> {
  const holders = new Set<string>(importedBy != null ? [importedBy] : [])
  for (const { key, value } of await store.list(STATUS_PREFIX)) {
    const status = ReplicationStatusSchema.safeParse(value)
    if (status.success && status.data.image === image && status.data.cid === cid && ['pinned', 'loaded'].includes(status.data.state)) {
      holders.add(key.slice(STATUS_PREFIX.length).split('/')[0] as string)
    }
  }
  const assigned = new Set<string>()
  for (const { key, value } of await store.list(STRATEGY_PREFIX)) {
    const strategy = StrategyRecordSchema.safeParse(value)
    if (!strategy.success || !strategy.data.execute || strategy.data.nametag !== image) continue
    const assignment = AssignmentSchema.safeParse(await store.get(ASSIGNMENT_PREFIX + key.slice(STRATEGY_PREFIX.length)))
    if (assignment.success) assignment.data.peers.forEach(p => assigned.add(p))
  }
  return { holders: [...holders].sort(), pullers: [...assigned].filter(p => !holders.has(p)).sort() }
}
