import type { ErrorRequestHandler, RequestHandler } from 'express'
import { ZodError } from 'zod'

/** An error meant for the API client: the status, a stable code, and the field at fault. */
export class ApiError extends Error {
  override name = 'ApiError'
  constructor (readonly status: number, readonly code: string, message: string, readonly field?: string) { super(message) }
}

export class NotFoundError extends ApiError {
  constructor (message: string) { super(404, 'NOT_FOUND', message) }
}

export class ForbiddenError extends ApiError {
  constructor (message: string) { super(403, 'FORBIDDEN', message) }
}

export interface ErrorBody {
  error: { code: string, message: string, field?: string }
}

/**
 * The one table from errors to HTTP. Named errors of the packages below map here; anything
 * unknown is a real fault (500) and is logged, never shown in detail.
 */
export function toApiError (err: unknown): ApiError {
  if (err instanceof ApiError) return err
  if (err instanceof ZodError) {
    const issue = err.issues[0]
    const field = issue?.path.join('.') ?? undefined
    return new ApiError(400, 'VALIDATION', `${field != null && field !== '' ? field + ': ' : ''}${issue?.message ?? 'invalid'}`, field === '' ? undefined : field)
  }
  const e = err as Error & { type?: string, field?: string, status?: number }
  switch (e.name) {
    case 'InvalidRecordError': return new ApiError(400, 'VALIDATION', e.message, e.field)
    // this node's key may not sign the record: the mesh would drop it, so say so instead of writing it
    case 'UnauthorizedWriteError': return new ApiError(403, 'FORBIDDEN', e.message)
    case 'StrategyValidationError': return new ApiError(400, 'VALIDATION', e.message, e.field)
    case 'InvalidReferenceError': return new ApiError(400, 'VALIDATION', e.message, e.field ?? 'name')
    case 'StrategyNotFoundError': return new ApiError(404, 'NOT_FOUND', e.message)
    case 'StrategyConflictError': return new ApiError(409, 'CONFLICT', e.message)
  }
  // body-parser's errors carry a type
  if (e.type === 'entity.too.large') return new ApiError(413, 'BODY_TOO_LARGE', 'request body too large')
  if (e.type === 'entity.parse.failed') return new ApiError(400, 'INVALID_JSON', 'request body is not valid JSON')
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return new ApiError(415, 'UNSUPPORTED_ENCODING', e.message)
  return new ApiError(500, 'INTERNAL', 'internal error')
}

export function errorHandler (log: { error: (obj: object, msg: string) => void }): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const apiError = toApiError(err)
    if (apiError.status >= 500) log.error({ err, path: req.path }, 'request failed')
    const body: ErrorBody = { error: { code: apiError.code, message: apiError.message, ...(apiError.field != null ? { field: apiError.field } : {}) } }
    res.status(apiError.status).json(body)
  }
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new NotFoundError(`no route ${req.method} ${req.path}`))
}
