import type { ZodType } from 'zod'
import { MAX_KEY_LENGTH, MAX_VALUE_BYTES, MAX_VALUE_DEPTH, MAX_VALUE_ELEMENTS } from '../constants.js'
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
  checkDepth(value)
  let encoded: string | undefined
  try {
    encoded = JSON.stringify(value)
  } catch {
    throw new InvalidRecordError('value is not JSON', 'value')
  }
  if (encoded === undefined) throw new InvalidRecordError('value is not JSON', 'value')
  if (Buffer.byteLength(encoded) > MAX_VALUE_BYTES) throw new InvalidRecordError(`value larger than ${MAX_VALUE_BYTES} bytes`, 'value')
}

/** A record's JSON text from the network, parsed and checked like a local write's value */
export function parseValue (text: string): JsonValue {
  if (Buffer.byteLength(text) > MAX_VALUE_BYTES) throw new InvalidRecordError(`value larger than ${MAX_VALUE_BYTES} bytes`, 'value')
  // before parsing: JSON.parse of thousands of nested brackets overflows the stack
  if (nestingOf(text) > MAX_VALUE_DEPTH) throw new InvalidRecordError(`value nested deeper than ${MAX_VALUE_DEPTH} levels`, 'value')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new InvalidRecordError('value is not JSON', 'value')
  }
  return value as JsonValue
}

/** Deepest bracket nesting of JSON text, strings skipped */
function nestingOf (text: string): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth)
    else if (c === 0x5d || c === 0x7d) depth--
  }
  return deepest
}

/** Iterative, so a hostile value cannot overflow the stack while it is being checked */
function checkDepth (value: unknown): void {
  const stack: Array<[unknown, number]> = [[value, 1]]
  let elements = 0
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number]
    if (typeof v !== 'object' || v === null) continue
    if (depth > MAX_VALUE_DEPTH) throw new InvalidRecordError(`value nested deeper than ${MAX_VALUE_DEPTH} levels`, 'value')
    const children = Array.isArray(v) ? v : Object.values(v)
    elements += children.length
    // a 256 KiB value of `[0,0,0,…]` is 128k elements: each one costs every reader
    if (elements > MAX_VALUE_ELEMENTS) throw new InvalidRecordError(`value has more than ${MAX_VALUE_ELEMENTS} elements`, 'value')
    for (const child of children) stack.push([child, depth + 1])
  }
}
