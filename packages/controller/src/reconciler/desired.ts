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
