import { OpenAPIRegistry, extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi'
import express, { type Request, type Response, type Router } from 'express'
import { z, type ZodType } from 'zod'
import { ApiError } from './errors.js'
import { bearerAuth } from './auth.js'

extendZodWithOpenApi(z)

export const ErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() })
}).openapi('Error')

type Method = 'get' | 'post' | 'put' | 'delete'

export interface RouteSpec<P extends ZodType, Q extends ZodType, B extends ZodType> {
  method: Method
  /** OpenAPI style, e.g. /api/v1/crdt/{key} */
  path: string
  summary: string
  tag: string
  params?: P
  query?: Q
  body?: B
  /** mediaType: a body other than JSON (e.g. Prometheus text), written by the handler itself */
  responses: Record<number, { description: string, schema?: ZodType, mediaType?: string }>
  handler: (input: { params: z.output<P>, query: z.output<Q>, body: z.output<B> }, req: Request, res: Response) => Promise<Reply | unknown>
}

/** A handler's answer when it is not a plain 200 JSON body */
export class Reply {
  constructor (readonly status: number, readonly body?: unknown) {}
}

/**
 * Registers each route twice from one spec: in Express, validating params, query and body with
 * its zod schemas; and in the OpenAPI registry, so /openapi.json always describes what runs.
 */
export class ApiRouter {
  readonly router: Router = express.Router()
  readonly registry = new OpenAPIRegistry()
  private readonly methods = new Map<string, Set<string>>()

  constructor (private readonly apiToken?: string) {
    this.registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' })
  }

  add<P extends ZodType = ZodType, Q extends ZodType = ZodType, B extends ZodType = ZodType> (spec: RouteSpec<P, Q, B>): void {
    this.document(spec)
    const path = toExpressPath(spec.path)
    this.methods.set(path, new Set([...this.methods.get(path) ?? [], spec.method.toUpperCase(), ...(spec.method === 'get' ? ['HEAD'] : [])]))
    const mutating = spec.method !== 'get'
    const handlers = mutating ? [bearerAuth(this.apiToken)] : []
    this.router[spec.method](toExpressPath(spec.path), ...handlers, async (req: Request, res: Response) => {
      const input = {
        params: parse(spec.params, req.params, 'path'),
        query: parse(spec.query, req.query, 'query'),
        body: parse(spec.body, req.body, 'body')
      }
      const out = await spec.handler(input as never, req, res)
      if (res.headersSent) return
      if (out instanceof Reply) {
        if (out.body === undefined) res.status(out.status).end()
        else res.status(out.status).json(out.body)
      } else {
        res.json(out)
      }
    })
  }

  /** After every route: another method on a known path is 405 with the methods it has (RFC 9110) */
  allowOnly (): void {
    for (const [path, methods] of this.methods) {
      const allow = [...methods].sort().join(', ')
      this.router.all(path, (req, res, next) => {
        res.set('Allow', allow)
        next(new ApiError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path} (allowed: ${allow})`))
      })
    }
  }

  private document (spec: RouteSpec<ZodType, ZodType, ZodType>): void {
    const error = (description: string): { description: string, content: { 'application/json': { schema: ZodType } } } => ({ description, content: { 'application/json': { schema: ErrorSchema } } })
    const mutating = spec.method !== 'get'
    const responses = {
      400: error('Invalid request'),
      ...(mutating && this.apiToken != null ? { 401: error('A valid bearer token is required') } : {}),
      ...(mutating ? { 403: error('This node may not write the records this request changes (it is not a writer, or the record is another peer\'s)'), 413: error('Request body too large') } : {}),
      ...Object.fromEntries(Object.entries(spec.responses).map(([status, r]) => [status, {
        description: r.description,
        ...(r.schema != null ? { content: { [r.mediaType ?? 'application/json']: { schema: r.schema } } } : Number(status) >= 400 ? { content: { 'application/json': { schema: ErrorSchema } } } : {})
      }]))
    }
    this.registry.registerPath({
      method: spec.method,
      path: spec.path,
      summary: spec.summary,
      tags: [spec.tag],
      ...(spec.method !== 'get' && this.apiToken != null ? { security: [{ bearer: [] }] } : {}),
      request: {
        ...(spec.params != null ? { params: spec.params as never } : {}),
        ...(spec.query != null ? { query: spec.query as never } : {}),
        ...(spec.body != null ? { body: { content: { 'application/json': { schema: spec.body } } } } : {})
      },
      responses
    })
  }
}

function parse (schema: ZodType | undefined, value: unknown, where: string): unknown {
  if (schema == null) return value
  const result = schema.safeParse(value ?? {})
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const field = issue?.path.map(String).join('.') ?? ''
  const name = field === '' ? where : field
  throw new ApiError(400, 'VALIDATION', `${name}: ${issue?.message ?? 'invalid'}`, name)
}

function toExpressPath (path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1')
}
