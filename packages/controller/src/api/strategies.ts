import { z } from 'zod'
import type { StrategyService } from '../strategies/service.js'
import { STRATEGY_TYPES, StrategyInputSchema } from '../strategies/strategy.js'
import { StrategyRecordSchema } from '../records/schemas.js'
import { ReplicationCellSchema } from './replication.js'
import { Reply, type ApiRouter } from './route.js'

const StrategyBody = StrategyInputSchema.openapi('StrategyRequest', {
  example: { type: 'percentage', nametag: 'busybox:1.35.0', percentage: 50, target: 'doesntmatter', execute: true }
})
const UpdateBody = z.object({
  key: z.string().min(1).max(600),
  execute: z.boolean().optional(),
  percentage: z.number().int().min(1).max(100).optional(),
  target: z.string().min(1).max(128).optional()
}).openapi('StrategyUpdate')
const KeyParam = z.object({ key: z.string().min(1).max(600) })
const View = StrategyRecordSchema.extend({
  image: z.object({ state: z.enum(['importing', 'ready', 'failed']), cid: z.string().optional(), error: z.string().optional() }),
  selected: z.array(z.string()),
  replicas: z.number(),
  status: z.object({
    wanted: z.number(), pending: z.number(), fetching: z.number(), pinned: z.number(), loaded: z.number(), failed: z.number(),
    peers: z.array(ReplicationCellSchema)
  }).openapi('StrategyStatus')
}).openapi('Strategy', { description: 'The strategy with selected peers, image state and replication status (docs/api.md)' })
const Preview = z.object({ selected: z.array(z.string()), replicas: z.number() }).openapi('Preview')

export function strategyRoutes (service: StrategyService): (api: ApiRouter) => void {
  return api => {
    api.add({
      method: 'get', path: '/api/v1/strategy/types', tag: 'strategies', summary: 'The strategy types',
      responses: { 200: { description: 'Types', schema: z.array(z.enum(STRATEGY_TYPES)) } },
      handler: async () => [...STRATEGY_TYPES]
    })
    api.add({
      method: 'post', path: '/api/v1/strategy', tag: 'strategies', summary: 'Create a strategy (imports the image first when the mesh lacks it)',
      body: StrategyBody,
      responses: { 201: { description: 'Created', schema: View }, 409: { description: 'A strategy with this key exists' } },
      handler: async ({ body }) => new Reply(201, await service.create(body))
    })
    api.add({
      method: 'post', path: '/api/v1/strategy/preview', tag: 'strategies', summary: 'Dry run: the peers a strategy would select now',
      body: StrategyBody,
      responses: { 200: { description: 'Selection', schema: Preview } },
      handler: async ({ body }) => service.preview(body)
    })
    api.add({
      method: 'get', path: '/api/v1/strategy', tag: 'strategies', summary: 'Every strategy with its selection and status',
      responses: { 200: { description: 'Strategies', schema: z.array(View) } },
      handler: async () => service.list()
    })
    api.add({
      method: 'get', path: '/api/v1/strategy/{key}', tag: 'strategies', summary: 'One strategy',
      params: KeyParam,
      responses: { 200: { description: 'The strategy', schema: View }, 404: { description: 'Unknown strategy' } },
      handler: async ({ params }) => service.view(params.key)
    })
    api.add({
      method: 'put', path: '/api/v1/strategy', tag: 'strategies', summary: 'Change execute, percentage or target of a strategy',
      body: UpdateBody,
      responses: { 200: { description: 'Updated', schema: View }, 404: { description: 'Unknown strategy' } },
      handler: async ({ body }) => service.update(body)
    })
    api.add({
      method: 'delete', path: '/api/v1/strategy/{key}', tag: 'strategies', summary: 'Delete a strategy; its peers release the image unless another strategy keeps it',
      params: KeyParam,
      responses: { 204: { description: 'Deleted' }, 404: { description: 'Unknown strategy' } },
      handler: async ({ params }) => {
        await service.delete(params.key)
        return new Reply(204)
      }
    })
  }
}
