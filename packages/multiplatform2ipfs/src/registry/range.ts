import { RangeInvalidError } from './errors.js'

export interface ByteRange {
  start: number
  /** inclusive */
  end: number
}

/**
 * Parses a single `Range: bytes=a-b` (also `a-` and `-suffix`) against a blob of `size` bytes.
 * Returns undefined for no header; throws RangeInvalidError (416) for anything unsatisfiable.
 * Multi-range requests are refused rather than answered with multipart bodies nobody here needs.
 */
export function parseRange (header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined || header === '') return undefined
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (match === null) throw new RangeInvalidError(`unsupported range "${header}": expected bytes=start-end`)
  const [, first = '', last = ''] = match
  if (first === '' && last === '') throw new RangeInvalidError(`invalid range "${header}"`)
  let start: number
  let end: number
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0) throw new RangeInvalidError(`unsatisfiable range "${header}"`, { size })
    start = Math.max(0, size - suffix)
    end = size - 1
  } else {
    start = Number(first)
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start > end || start >= size) {
    throw new RangeInvalidError(`unsatisfiable range "${header}" for ${size} bytes`, { size })
  }
  return { start, end }
}

/** An upload chunk's `Content-Range: <start>-<end>` (inclusive; `bytes ` prefix tolerated). */
export function parseContentRange (header: string | undefined): ByteRange | undefined {
  if (header === undefined || header === '') return undefined
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim())
  if (match === null) throw new RangeInvalidError(`invalid Content-Range "${header}": expected <start>-<end>`)
  const start = Number(match[1])
  const end = Number(match[2])
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    throw new RangeInvalidError(`invalid Content-Range "${header}"`)
  }
  return { start, end }
}
