import type { ZodType } from 'zod'
import { MAX_KEY_LENGTH, MAX_VALUE_BYTES } from '../constants.js'
import { InvalidRecordError } from '../errors.js'
import type { JsonValue } from './store.js'

/**
 * Validation of records, shared by local writes (rejected with an error) and remote ones
 * (dropped and counted). Later packages register a zod schema per key prefix.
 */
export interface RecordSchema {
  prefix: string
  schema: ZodType
}

export class RecordValidator {
  private readonly schemas: RecordSchema[]

  constructor (schemas: RecordSchema[] = []) {
    // longest prefix first, so `image/by-cid/` wins over `image/`
    this.schemas = [...schemas].sort((a, b) => b.prefix.length - a.prefix.length)
  }

  register (prefix: string, schema: ZodType): void {
    this.schemas.push({ prefix, schema })
    this.schemas.sort((a, b) => b.prefix.length - a.prefix.length)
  }

  /** Throws InvalidRecordError naming the field at fault */
  check (key: string, value: unknown): void {
    checkKey(key)
    checkValueShape(value)
    const schema = this.schemas.find(s => key.startsWith(s.prefix))?.schema
    const result = schema?.safeParse(value)
    if (result != null && !result.success) {
      const issue = result.error.issues[0]
      const where = issue?.path.length != null && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : ''
      throw new InvalidRecordError(`value for "${key}"${where}: ${issue?.message ?? 'invalid'}`, 'value')
    }
  }

  isValid (key: string, value: unknown): boolean {
    try {
      this.check(key, value)
      return true
    } catch {
      return false
    }
  }
}

export function checkKey (key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidRecordError('key must be a non-empty string', 'key')
  if (key.length > MAX_KEY_LENGTH) throw new InvalidRecordError(`key longer than ${MAX_KEY_LENGTH} characters`, 'key')
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new InvalidRecordError('key contains control characters', 'key')
}

export function checkValueShape (value: unknown): asserts value is JsonValue {
  if (value === undefined) throw new InvalidRecordError('value is required', 'value')
  let encoded: string | undefined
  try {
    encoded = JSON.stringify(value)
  } catch {
    throw new InvalidRecordError('value is not JSON', 'value')
  }
  if (encoded === undefined) throw new InvalidRecordError('value is not JSON', 'value')
  if (Buffer.byteLength(encoded) > MAX_VALUE_BYTES) throw new InvalidRecordError(`value larger than ${MAX_VALUE_BYTES} bytes`, 'value')
}
