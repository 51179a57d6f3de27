import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import { parseDigest, type Digest } from '../digest.js'
import { NameInvalidError } from './errors.js'

/** distribution's repository grammar: lower-case components joined by `/`, at most 255 characters. */
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^[\w][\w.-]{0,127}$/
export const MAX_NAME_LENGTH = 255

/** Throws NameInvalidError unless `name` is a valid repository name (this also rules out `..`, `%2e`, `//`). */
export function validateName (name: string): string {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new NameInvalidError(`invalid repository name: must be 1 to ${MAX_NAME_LENGTH} characters`, { name: name.slice(0, 300) })
  }
  for (const component of name.split('/')) {
    if (!COMPONENT.test(component)) {
      throw new NameInvalidError(`invalid repository name "${name}": component "${component}" must be lower-case [a-z0-9] joined by ".", "_", "__" or "-"`, { name })
    }
  }
  return name
}

export function isTag (reference: string): boolean {
  return TAG.test(reference)
}

/** A manifest reference is a tag or a digest; a string with ':' must be a valid sha256 digest. */
export function parseManifestReference (reference: string): { tag: string } | { digest: Digest } {
  if (reference.includes(':')) return { digest: parseDigest(reference) }
  if (isTag(reference)) return { tag: reference }
  throw new NameInvalidError(`invalid tag "${reference.slice(0, 200)}"`, { tag: reference.slice(0, 200) })
}

/** The image root CID a repository name denotes, when it is one lower-case base32 CIDv1. */
export function cidFromName (name: string): CID | undefined {
  if (!/^b[a-z2-7]{50,}$/.test(name)) return undefined
  try {
    const cid = CID.parse(name, base32)
    return cid.version === 1 ? cid : undefined
  } catch {
    return undefined
  }
}
