import { z } from 'zod'
import type { JsonValue } from '@distromash/p2pcomm'
import { ForbiddenError, NotFoundError } from './errors.js'
import { Reply, type ApiRouter } from './route.js'
import type { ApiDeps } from './deps.js'

/** The replicated store, key by key (DistroMash's /crdt API: `{key, value}` pairs). */
// a parsed JSON body is JSON by construction; the store checks size and per-key schemas
const Json = z.any().refine(v => v !== undefined, 'value is required').openapi({ description: 'any JSON value' }) as z.ZodType<JsonValue>
// eslint-disable-next-line no-control-regex
const StoreKey = z.string().min(1).max(512).regex(/^[^\u0000-\u001f\u007f]+$/, 'no control characters')
const Entry = z.object({ key: StoreKey, value: Json }).openapi('StoreEntry')
const KeyParam = z.object({ key: z.string().min(1).max(512).openapi({ description: 'URL-encoded key, e.g. status%2F12D3KooW…' }) })
const ListQuery = z.object({ prefix: z.string().max(512).optional() })

export function crdtRoutes (api: ApiRouter, deps: ApiDeps): void {
  api.add({
    method: 'get', path: '/api/v1/crdt', tag: 'crdt', summary: 'List every key and value of the replicated store',
    query: ListQuery,
    responses: { 200: { description: 'All entries, sorted by key', schema: z.array(Entry) } },
    handler: async ({ query }) => deps.records.entries(query.prefix)
  })
  api.add({
    method: 'get', path: '/api/v1/crdt/{key}', tag: 'crdt', summary: 'Get one key',
    params: KeyParam,
    responses: { 200: { description: 'The entry', schema: Entry }, 404: { description: 'Unknown key' } },
    handler: async ({ params }) => ({ key: params.key, value: await found(deps, params.key) })
  })
  api.add({
    method: 'post', path: '/api/v1/crdt', tag: 'crdt', summary: 'Put a key (replicated to every peer); signed by this node, under the same schemas and writers as the typed endpoints',
    body: Entry,
    responses: { 201: { description: 'Stored', schema: Entry }, 403: { description: 'This node may not write this key (not a writer, or another peer\'s status)' } },
    handler: async ({ body }) => {
      await deps.records.store.put(body.key, body.value)
      return new Reply(201, body)
    }
  })
  api.add({
    method: 'delete', path: '/api/v1/crdt/{key}', tag: 'crdt', summary: 'Delete a key (replicated to every peer)',
    params: KeyParam,
    responses: { 204: { description: 'Deleted' }, 403: { description: 'This node may not write this key' }, 404: { description: 'Unknown key' } },
    handler: async ({ params }) => {
      const denied = deps.records.store.denies(params.key)
      if (denied != null) throw new ForbiddenError(`this node may not delete "${params.key}": ${denied}`)
      if (!await deps.records.store.delete(params.key)) throw new NotFoundError(`no key "${params.key}"`)
      return new Reply(204)
    }
  })
}

async function found (deps: ApiDeps, key: string): Promise<JsonValue> {
  const value = await deps.records.store.get(key)
  if (value === undefined) throw new NotFoundError(`no key "${key}"`)
  return value
}
