import { DEFAULT_REGISTRY, DEFAULT_TAG } from './constants.js'
import { parseDigest, type Digest } from './digest.js'
import { InvalidReferenceError } from './errors.js'

/** A normalised image reference, as Docker resolves `busybox` to `docker.io/library/busybox:latest`. */
export interface ImageReference {
  /** Registry host with optional port, e.g. `docker.io`, `ghcr.io`, `127.0.0.1:5001`. */
  registry: string
  /** Path inside the registry, e.g. `library/busybox`. */
  repository: string
  /** Absent only when pulled by digest alone. */
  tag?: string
  digest?: Digest
}

// Grammar from distribution/reference. The separator is `-+` rather than the older `[-]*`:
// same language, but no nested quantifiers that could backtrack catastrophically.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const DOMAIN = new RegExp(`^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`)
const TAG = /^[\w][\w.-]{0,127}$/
const IMAGE_ID = /^[a-f0-9]{64}$/
const MAX_NAME_LENGTH = 255

/** Parses and normalises a reference the way `docker pull` does; throws InvalidReferenceError. */
export function parseReference (input: string): ImageReference {
  if (input === '') {
    throw new InvalidReferenceError('invalid reference: empty string')
  }
  if (IMAGE_ID.test(input)) {
    throw new InvalidReferenceError(`invalid reference "${input}": a 64-character hex string is an image ID, not a repository name`)
  }
  const [withoutDigest, digest] = splitDigest(input)
  const [name, tag] = splitTag(withoutDigest, input)
  const { registry, repository } = splitRegistry(name, input)
  validateName(registry, repository, input)
  const reference: ImageReference = { registry, repository }
  if (tag !== undefined) {
    reference.tag = tag
  }
  if (digest !== undefined) {
    reference.digest = digest
  }
  if (tag === undefined && digest === undefined) {
    reference.tag = DEFAULT_TAG
  }
  return reference
}

function splitDigest (input: string): [string, Digest | undefined] {
  const at = input.indexOf('@')
  if (at === -1) {
    return [input, undefined]
  }
  try {
    return [input.slice(0, at), parseDigest(input.slice(at + 1))]
  } catch (err) {
    throw new InvalidReferenceError(`invalid reference "${input}": ${(err as Error).message}`)
  }
}

function splitTag (name: string, input: string): [string, string | undefined] {
  const colon = name.lastIndexOf(':')
  // a colon before the last slash belongs to a registry port, not a tag
  if (colon === -1 || colon < name.lastIndexOf('/')) {
    return [name, undefined]
  }
  const tag = name.slice(colon + 1)
  if (!TAG.test(tag)) {
    throw new InvalidReferenceError(`invalid reference "${input}": tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`)
  }
  return [name.slice(0, colon), tag]
}

/** Docker's rule: the first component is a registry only if it has a dot or colon, is `localhost`, or has capitals. */
function splitRegistry (name: string, input: string): { registry: string, repository: string } {
  const slash = name.indexOf('/')
  const first = name.slice(0, slash)
  const isRegistry = slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first)
  let registry = isRegistry ? first : DEFAULT_REGISTRY
  let repository = isRegistry ? name.slice(slash + 1) : name
  if (registry === 'index.docker.io') {
    registry = DEFAULT_REGISTRY
  }
  if (!DOMAIN.test(registry)) {
    throw new InvalidReferenceError(`invalid reference "${input}": "${registry}" is not a valid registry host`)
  }
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) {
    repository = `library/${repository}`
  }
  return { registry, repository }
}

function validateName (registry: string, repository: string, input: string): void {
  for (const component of repository.split('/')) {
    if (COMPONENT.test(component)) {
      continue
    }
    if (COMPONENT.test(component.toLowerCase())) {
      throw new InvalidReferenceError(`invalid reference "${input}": repository name must be lowercase`)
    }
    throw new InvalidReferenceError(`invalid reference "${input}": path component "${component}" must match [a-z0-9]+ joined by ".", "_", "__" or dashes`)
  }
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) {
    throw new InvalidReferenceError(`invalid reference "${input}": repository name is longer than ${MAX_NAME_LENGTH} characters`)
  }
}

/** `docker.io/library/busybox` → `busybox`, `docker.io/user/app` → `user/app`, others keep their host. */
export function familiarName (reference: ImageReference): string {
  if (reference.registry !== DEFAULT_REGISTRY) {
    return `${reference.registry}/${reference.repository}`
  }
  const rest = reference.repository.slice('library/'.length)
  return reference.repository.startsWith('library/') && !rest.includes('/') ? rest : reference.repository
}

/** Formats as users write it: `busybox:1.35.0`, `ghcr.io/org/app:tag`, `name@sha256:…`. */
export function formatReference (reference: ImageReference, options: { canonical?: boolean } = {}): string {
  const name = options.canonical === true ? `${reference.registry}/${reference.repository}` : familiarName(reference)
  const tag = reference.tag === undefined ? '' : `:${reference.tag}`
  const digest = reference.digest === undefined ? '' : `@${reference.digest}`
  return `${name}${tag}${digest}`
}
