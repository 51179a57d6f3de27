import { z } from 'zod'
import { Reply, type ApiRouter } from './route.js'
import type { ApiDeps } from './deps.js'

const WriteAuthorizationSchema = z.object({
  enabled: z.boolean(),
  writers: z.number().int(),
  selfIsWriter: z.boolean(),
  summary: z.string()
}).openapi('WriteAuthorization', { description: 'Whether a writers file limits who may change desired state' })

const ContentBackendSchema = z.object({
  kind: z.enum(['embedded', 'kubo']),
  description: z.string().openapi({ example: 'kubo http://127.0.0.1:5001' }),
  url: z.string().optional().openapi({ description: 'the Kubo RPC API, for kind kubo' })
}).openapi('ContentBackend', { description: 'Where this node keeps blocks and pins: its embedded Helia, or a Kubo daemon beside it (--ipfs-api)' })

const IdentitySchema = z.object({
  peerId: z.string(), addrs: z.array(z.string()), privateNetwork: z.boolean(), version: z.string(), writeAuthorization: WriteAuthorizationSchema,
  content: ContentBackendSchema
}).openapi('Identity')

const PeerSchema = z.object({
  id: z.string(),
  self: z.boolean(),
  addrs: z.array(z.string()),
  connected: z.boolean(),
  latencyMs: z.number().optional(),
  lastSeen: z.string().optional(),
  lastConnected: z.string().optional(),
  live: z.boolean(),
  announcement: z.object({
    version: z.string(), apiPort: z.number().optional(), registryPort: z.number().optional(), docker: z.boolean(), addrs: z.array(z.string()),
    ipfs: z.object({ id: z.string(), addrs: z.array(z.string()) }).optional().openapi({ description: 'the Kubo a sidecar node keeps its content in' })
  }).optional()
}).openapi('Peer')

const DiskSchema = z.object({
  usedBytes: z.number().openapi({ description: 'bytes the data dir takes on disk' }),
  freeBytes: z.number().openapi({ description: 'bytes its file system has left' }),
  limitBytes: z.number().optional().openapi({ description: '--max-disk, when set' }),
  lowWatermarkBytes: z.number().optional().openapi({ description: 'eviction of cached images stops below this' }),
  highWatermarkBytes: z.number().optional().openapi({ description: 'eviction of cached images starts at this' }),
  full: z.boolean().openapi({ description: 'new blocks are refused: the limit is reached or the file system is full' }),
  reason: z.string().optional().openapi({ example: '--max-disk 20.0 GiB reached (20.0 GiB used)' }),
  collections: z.number().openapi({ description: 'garbage collections since start' }),
  removedBytes: z.number().openapi({ description: 'bytes of unpinned blocks removed since start' }),
  reclaimedBytes: z.number().openapi({ description: 'file bytes compaction gave back since start' }),
  evictions: z.number().openapi({ description: 'cached images evicted since start' }),
  lastCollectionAt: z.string().optional()
}).openapi('DiskUsage', { description: 'Disk use of the data dir against --max-disk; garbage collection and cache eviction' })

const HealthSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  peers: z.number(),
  connections: z.number(),
  store: z.object({
    keys: z.number(),
    tombstones: z.number(),
    droppedMessages: z.number().openapi({ description: 'records from peers not applied, all reasons' }),
    dropped: z.object({
      malformed: z.number(), 'bad-signature': z.number(), unauthorized: z.number(), stale: z.number(), future: z.number(), 'invalid-value': z.number(), 'rate-limited': z.number(), 'over-quota': z.number()
    }).openapi({ description: 'records from peers not applied, by reason' }),
    remoteUpdates: z.number(),
    duplicates: z.number()
  }),
  droppedAnnouncements: z.number(),
  providers: z.object({
    announced: z.number(), failed: z.number(), queued: z.number()
  }).openapi({ description: 'DHT provider records for what this node pins: announced since start, failed (retried by the DHT), waiting' }),
  writeAuthorization: WriteAuthorizationSchema,
  disk: DiskSchema.optional()
}).openapi('Health')

export function nodeRoutes (api: ApiRouter, deps: ApiDeps): void {
  api.add({
    method: 'get', path: '/api/v1/identity', tag: 'node', summary: 'This node: peer ID, addresses, private network, content backend',
    responses: { 200: { description: 'Identity', schema: IdentitySchema } },
    handler: async () => deps.identity()
  })
  api.add({
    method: 'get', path: '/api/v1/peers', tag: 'node', summary: 'Every known peer, this node first',
    responses: { 200: { description: 'Peers', schema: z.array(PeerSchema) } },
    handler: async () => deps.peers()
  })
  api.add({
    method: 'get', path: '/health', tag: 'node', summary: 'Liveness and store state (503 while not ready)',
    responses: { 200: { description: 'Healthy', schema: HealthSchema }, 503: { description: 'Not ready', schema: HealthSchema } },
    handler: async () => {
      const stats = deps.stats()
      const peers = (await deps.peers()).filter(p => !p.self && p.live).length
      const ok = deps.ready()
      return new Reply(ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable', peers, ...stats, writeAuthorization: deps.identity().writeAuthorization, ...(deps.disk != null ? { disk: deps.disk() } : {}) })
    }
  })
}
