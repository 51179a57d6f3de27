import { z } from 'zod'
import { MAX_MANIFEST_BYTES } from './constants.js'
import { isDigest, type Digest } from './digest.js'
import { InvalidManifestError, ManifestTooLargeError } from './errors.js'
import {
  DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED, OCI_INDEX, OCI_MANIFEST,
  baseMediaType, isIndexMediaType, isManifestMediaType
} from './media-types.js'
import { platformMatches, type Platform } from './platform.js'

const digestSchema = z.string().refine(isDigest, 'expected sha256:<64 lowercase hex>').transform(value => value as Digest)

export const platformSchema = z.looseObject({
  os: z.string().min(1),
  architecture: z.string().min(1),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional()
})

// loose objects: unknown fields are kept, since the stored bytes are what count, not our parse
export const descriptorSchema = z.looseObject({
  mediaType: z.string().min(1),
  digest: digestSchema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  platform: platformSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  urls: z.array(z.string()).optional(),
  artifactType: z.string().optional()
})

export const indexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional()
})

export const manifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional()
})

export type Descriptor = z.infer<typeof descriptorSchema>
export type ImageIndex = z.infer<typeof indexSchema>
export type ImageManifest = z.infer<typeof manifestSchema>

export type ParsedManifest =
  | { kind: 'index', mediaType: string, index: ImageIndex }
  | { kind: 'manifest', mediaType: string, manifest: ImageManifest }

/**
 * Decides index vs manifest: the body's own `mediaType` wins, then the Content-Type header,
 * then the shape (`manifests` means index, `config` means manifest), since OCI made the field optional.
 */
export function classifyManifest (body: Record<string, unknown>, contentType?: string | null): { kind: 'index' | 'manifest', mediaType: string } {
  const declared = typeof body.mediaType === 'string' ? body.mediaType : baseMediaType(contentType)
  if (declared === DOCKER_MANIFEST_V1 || declared === DOCKER_MANIFEST_V1_SIGNED || body.schemaVersion === 1) {
    throw new InvalidManifestError('Docker schema 1 manifests are not supported')
  }
  if (isIndexMediaType(declared)) {
    return { kind: 'index', mediaType: declared as string }
  }
  if (isManifestMediaType(declared)) {
    return { kind: 'manifest', mediaType: declared as string }
  }
  if (Array.isArray(body.manifests)) {
    return { kind: 'index', mediaType: OCI_INDEX }
  }
  if (typeof body.config === 'object' && body.config !== null) {
    return { kind: 'manifest', mediaType: OCI_MANIFEST }
  }
  throw new InvalidManifestError(`unsupported manifest media type "${declared ?? '(none)'}"`)
}

/** Parses manifest bytes (size-capped, JSON, schema-checked) without altering them. */
export function parseManifest (bytes: Uint8Array, contentType?: string | null): ParsedManifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new ManifestTooLargeError(`manifest is ${bytes.byteLength} bytes, over the ${MAX_MANIFEST_BYTES} byte limit`)
  }
  let body: unknown
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new InvalidManifestError(`manifest is not valid UTF-8 JSON: ${(err as Error).message}`)
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidManifestError('manifest must be a JSON object')
  }
  const { kind, mediaType } = classifyManifest(body as Record<string, unknown>, contentType)
  const result = (kind === 'index' ? indexSchema : manifestSchema).safeParse(body)
  if (!result.success) {
    throw new InvalidManifestError(`invalid ${kind} (${mediaType}): ${z.prettifyError(result.error)}`)
  }
  return kind === 'index'
    ? { kind, mediaType, index: result.data as ImageIndex }
    : { kind, mediaType, manifest: result.data as ImageManifest }
}

export const ATTESTATION_REFERENCE_TYPE = 'vnd.docker.reference.type'
export const ATTESTATION_REFERENCE_DIGEST = 'vnd.docker.reference.digest'

/** BuildKit attestations are stored (they are part of the image) but are not platforms. */
export function isAttestation (descriptor: Descriptor): boolean {
  if (descriptor.annotations?.[ATTESTATION_REFERENCE_TYPE] === 'attestation-manifest') {
    return true
  }
  return descriptor.platform?.os === 'unknown' && descriptor.platform.architecture === 'unknown'
}

/** The descriptors of an index that are real platforms, each with its platform. */
export function platformDescriptors (index: ImageIndex): Array<Descriptor & { platform: Platform }> {
  return index.manifests.filter((d): d is Descriptor & { platform: Platform } => d.platform !== undefined && !isAttestation(d))
}

/**
 * The platform manifests of an index that satisfy any of `wanted`, in index order: the one rule
 * for which manifests a platform means, for the importer's filter and a host fetching its own.
 */
export function matchingManifests (index: ImageIndex, wanted: Platform[]): Array<Descriptor & { platform: Platform }> {
  return platformDescriptors(index).filter(d => wanted.some(w => platformMatches(w, d.platform)))
}
