import { z } from 'zod'
import type { Records, StatusCell } from '../records/records.js'
import { ReplicationStatusSchema } from '../records/schemas.js'
import type { ApiRouter } from './route.js'

export type ReplicationCell = StatusCell

/** One peer's state for one image (its status record and whose it is) */
export const ReplicationCellSchema = ReplicationStatusSchema.extend({ peerId: z.string() }).openapi('ReplicationCell')

const ReplicationSchema = z.object({ peers: z.array(z.string()), images: z.array(z.string()), cells: z.array(ReplicationCellSchema) })
  .openapi('Replication', { description: 'Peers × images: every live peer and every peer with a status record, every image with one' })

/** Every status record of the mesh: the peers × images matrix */
export async function replicationMatrix (records: Records, livePeers: () => Promise<string[]>): Promise<{ peers: string[], images: string[], cells: ReplicationCell[] }> {
  const cells = await records.statuses()
  const peers = new Set([...await livePeers(), ...cells.map(c => c.peerId)])
  return { peers: [...peers].sort(), images: [...new Set(cells.map(c => c.image))].sort(), cells }
}

export function replicationRoutes (records: Records, livePeers: () => Promise<string[]>): (api: ApiRouter) => void {
  return api => {
    api.add({
      method: 'get', path: '/api/v1/replication', tag: 'replication', summary: 'Peers × images with each cell\'s state and progress',
      responses: { 200: { description: 'The matrix', schema: ReplicationSchema } },
      handler: async () => replicationMatrix(records, livePeers)
    })
  }
}
