import { describe, expect, it } from 'vitest'
import { ApiError, toError } from '../src/api/client'
import { formErrors } from '../src/lib/errors'

const FIELDS = ['type', 'nametag', 'percentage', 'target'] as const

describe('API errors in forms', () => {
  it('parses the API error body', () => {
    const e = toError(400, { error: { code: 'VALIDATION', message: 'percentage must be an integer from 1 to 100', field: 'percentage' } })
    expect(e).toMatchObject({ status: 400, code: 'VALIDATION', field: 'percentage', message: 'percentage must be an integer from 1 to 100' })
    expect(toError(502, undefined, 'Bad gateway').message).toBe('HTTP 502: Bad gateway')
  })

  it('puts a field error beside its field, without the field prefix', () => {
    expect(formErrors(new ApiError(400, 'VALIDATION', 'nametag: String must contain at least 1 character(s)', 'nametag'), FIELDS))
      .toEqual({ fields: { nametag: 'String must contain at least 1 character(s)' } })
    expect(formErrors(new ApiError(400, 'VALIDATION', 'target must be the peer ID of a mesh node', 'target'), FIELDS))
      .toEqual({ fields: { target: 'target must be the peer ID of a mesh node' } })
  })

  it('shows errors naming no field of the form above the buttons', () => {
    expect(formErrors(new ApiError(409, 'CONFLICT', 'exists'), FIELDS)).toEqual({ fields: {}, general: 'exists' })
    expect(formErrors(new ApiError(400, 'VALIDATION', 'body: expected object', 'body'), FIELDS)).toEqual({ fields: {}, general: 'body: expected object' })
    expect(formErrors(new ApiError(401, 'UNAUTHORIZED', 'a valid bearer token is required for this request'), FIELDS).general).toMatch(/set the API token/)
    expect(formErrors(undefined, FIELDS)).toEqual({ fields: {} })
  })
})
