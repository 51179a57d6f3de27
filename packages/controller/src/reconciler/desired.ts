import type { Records } from '../records/records.js'
import type { ReplicationStatus } from '../records/schemas.js'

/**
 * Desired state of one node: every image an executing strategy has assigned to it.
 * An image stays desired while any executing strategy selects this peer.
 */
export async function desiredImages (records: Records, peerId: string): Promise<Map<string, string[]>> {
  const desired = new Map<string, string[]>()
  for (const strategy of await records.strategies()) {
    if (!strategy.execute) continue
    const assignment = await records.assignment(strategy.key)
    if (assignment?.peers.includes(peerId) !== true) continue
    desired.set(strategy.nametag, [...(desired.get(strategy.nametag) ?? []), strategy.key])
  }
  return desired
}

/** This node's own status records, by image */
export async function ownStatuses (records: Records, peerId: string): Promise<Map<string, ReplicationStatus>> {
  return new Map((await records.statuses(peerId)).map(({ peerId: _, ...status }) => [status.image, status]))
}

/** Who replicates one image now: the swarm a fetch splits its work across (see p2pcomm's swarmFetch) */
export interface ImageSwarm {
  /** Peers that hold the whole image: its importer and every peer that reached pinned/loaded */
  holders: string[]
  /** Peers assigned the image that do not hold it yet, sorted: the same list on every node */
  pullers: string[]
}

export async function imageSwarm (records: Records, image: string, cid: string, importedBy?: string): Promise<ImageSwarm> {
  const holders = new Set<string>(importedBy != null ? [importedBy] : [])
  // a peer keeping its content in Kubo fetches over Kubo's bitswap: it takes no share of the split
  const elsewhere = new Set<string>()
  for (const status of await records.statuses()) {
    if (status.image !== image || status.cid !== cid) continue
    if (['pinned', 'loaded'].includes(status.state)) holders.add(status.peerId)
    else if (status.content === 'kubo') elsewhere.add(status.peerId)
  }
  const assigned = new Set<string>()
  for (const strategy of await records.strategies()) {
    if (!strategy.execute || strategy.nametag !== image) continue
    const assignment = await records.assignment(strategy.key)
    assignment?.peers.forEach(p => assigned.add(p))
  }
  return { holders: [...holders].sort(), pullers: [...assigned].filter(p => !holders.has(p) && !elsewhere.has(p)).sort() }
}
