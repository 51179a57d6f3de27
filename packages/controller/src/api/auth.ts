import { timingSafeEqual, createHash } from 'node:crypto'
import type { RequestHandler } from 'express'
import { ApiError } from './errors.js'

/**
 * Mutating endpoints require `Authorization: Bearer <token>` when a token is configured.
 * Hashing both sides first makes the comparison constant-time whatever the lengths.
 */
export function bearerAuth (token?: string): RequestHandler {
  if (token == null) return (_req, _res, next) => { next() }
  const expected = digest(token)
  return (req, res, next) => {
    const header = req.get('authorization') ?? ''
    const match = /^Bearer\s+(.+)$/i.exec(header)
    if (match?.[1] != null && timingSafeEqual(digest(match[1].trim()), expected)) {
      next()
      return
    }
    res.set('WWW-Authenticate', 'Bearer realm="distromash"')
    next(new ApiError(401, 'UNAUTHORIZED', 'a valid bearer token is required for this request'))
  }
}

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}
