import type { ReplicatedStore } from '@distromash/p2pcomm'
import { z } from 'zod'
import { parseStatusKey, ReplicationStatusSchema, STATUS_PREFIX, type ReplicationStatus } from '../reconciler/status.js'
import type { ApiRouter } from './route.js'

export type ReplicationCell = ReplicationStatus & { peerId: string }

/** Every status record of the mesh: the peers × images matrix */
export async function replicationMatrix (store: ReplicatedStore, livePeers: () => Promise<string[]>): Promise<{ peers: string[], images: string[], cells: ReplicationCell[] }> {
  const cells: ReplicationCell[] = []
  for (const { key, value } of await store.list(STATUS_PREFIX)) {
    const where = parseStatusKey(key)
    const status = ReplicationStatusSchema.safeParse(value)
    if (where != null && status.success) cells.push({ ...status.data, peerId: where.peerId })
  }
  const peers = new Set([...await livePeers(), ...cells.map(c => c.peerId)])
  return { peers: [...peers].sort(), images: [...new Set(cells.map(c => c.image))].sort(), cells }
}

export function replicationRoutes (store: ReplicatedStore, livePeers: () => Promise<string[]>): (api: ApiRouter) => void {
  return api => {
    api.add({
      method: 'get', path: '/api/v1/replication', tag: 'replication', summary: 'Peers × images with each cell\'s state and progress',
      responses: { 200: { description: 'The matrix', schema: z.object({ peers: z.array(z.string()), images: z.array(z.string()), cells: z.array(z.object({}).passthrough()) }) } },
      handler: async () => replicationMatrix(store, livePeers)
    })
  }
}
