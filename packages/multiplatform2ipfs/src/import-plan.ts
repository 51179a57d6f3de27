import { CustomProgressEvent, type ProgressOptions } from 'progress-events'
import { MAX_MANIFEST_BYTES } from './constants.js'
import { InvalidManifestError, PlatformNotFoundError } from './errors.js'
import {
  ATTESTATION_REFERENCE_DIGEST, isAttestation, matchingManifests, parseManifest, platformDescriptors,
  type Descriptor, type ImageIndex, type ImageManifest
} from './manifest.js'
import { formatPlatform, platformMatches, type Platform } from './platform.js'
import type { Digest } from './digest.js'
import type { ImportProgressEvents } from './progress.js'
import type { ImageReference } from './reference.js'
import type { RegistryClient } from './upstream/client.js'

/** Everything an import must store, found by walking the manifests; all in-memory bytes are verified. */
export interface ImportPlan {
  top: { digest: Digest, mediaType: string, size: number }
  /** Manifests (and a single-manifest image's config), verified, held in memory: all small. */
  small: Map<Digest, Uint8Array>
  /** Configs and layers to stream. */
  blobs: Map<Digest, Descriptor>
  platforms: string[]
}

export interface PlanOptions extends ProgressOptions<ImportProgressEvents> {
  platforms?: Platform[]
  signal?: AbortSignal
}

export async function planImport (reference: ImageReference, client: RegistryClient, options: PlanOptions = {}): Promise<ImportPlan> {
  const top = await client.getManifest(reference, reference.digest ?? reference.tag ?? 'latest', options)
  const parsed = parseManifest(top.bytes, top.contentType)
  options.onProgress?.(new CustomProgressEvent('import:manifest', { digest: top.digest, size: top.size, mediaType: parsed.mediaType }))
  const plan: ImportPlan = {
    top: { digest: top.digest, mediaType: parsed.mediaType, size: top.size },
    small: new Map([[top.digest, top.bytes]]),
    blobs: new Map(),
    platforms: []
  }
  if (parsed.kind === 'manifest') {
    const platform = await configPlatform(reference, client, parsed.manifest, plan, options)
    if (options.platforms !== undefined && !options.platforms.some(wanted => platformMatches(wanted, platform))) {
      throw new PlatformNotFoundError(`${reference.repository} is single-platform (${formatPlatform(platform)}); it matches none of ${options.platforms.map(formatPlatform).join(', ')}`)
    }
    addLayers(plan, parsed.manifest)
    plan.platforms.push(formatPlatform(platform))
    return plan
  }
  for (const child of selectChildren(parsed.index, options.platforms)) {
    const manifest = await fetchChild(reference, client, child, plan, options)
    plan.blobs.set(manifest.config.digest, manifest.config)
    addLayers(plan, manifest)
    if (child.platform !== undefined && !isAttestation(child)) {
      plan.platforms.push(formatPlatform(child.platform))
    }
  }
  return plan
}

/** Platform manifests matching the filter (all children without one), plus the attestations that describe them. */
function selectChildren (index: ImageIndex, wanted: Platform[] | undefined): Descriptor[] {
  if (wanted === undefined) {
    return index.manifests
  }
  const chosen = matchingManifests(index, wanted)
  if (chosen.length === 0) {
    const available = platformDescriptors(index).map(d => formatPlatform(d.platform)).join(', ')
    throw new PlatformNotFoundError(`no manifest for ${wanted.map(formatPlatform).join(', ')}; the image has ${available}`)
  }
  const digests = new Set<string>(chosen.map(d => d.digest))
  const attestations = index.manifests.filter(d => isAttestation(d) && digests.has(d.annotations?.[ATTESTATION_REFERENCE_DIGEST] ?? ''))
  return [...chosen, ...attestations]
}

async function fetchChild (reference: ImageReference, client: RegistryClient, child: Descriptor, plan: ImportPlan, options: PlanOptions): Promise<ImageManifest> {
  const fetched = await client.getManifest(reference, child.digest, options) // checked against the digest
  if (fetched.size !== child.size) {
    throw new InvalidManifestError(`manifest ${child.digest} is ${fetched.size} bytes, the index says ${child.size}`)
  }
  const parsed = parseManifest(fetched.bytes, child.mediaType)
  if (parsed.kind !== 'manifest') {
    throw new InvalidManifestError(`nested index ${child.digest} is not supported`)
  }
  options.onProgress?.(new CustomProgressEvent('import:manifest', { digest: child.digest, size: child.size, mediaType: parsed.mediaType }))
  plan.small.set(child.digest, fetched.bytes)
  return parsed.manifest
}

/** A single-manifest image names its platform only in its config, so read that (it is small) first. */
async function configPlatform (reference: ImageReference, client: RegistryClient, manifest: ImageManifest, plan: ImportPlan, options: PlanOptions): Promise<Platform> {
  const { config } = manifest
  if (config.size > MAX_MANIFEST_BYTES) {
    throw new InvalidManifestError(`config ${config.digest} is ${config.size} bytes, over the ${MAX_MANIFEST_BYTES} byte limit`)
  }
  const chunks: Uint8Array[] = []
  for await (const chunk of client.getBlob(reference, config, options)) {
    chunks.push(chunk)
  }
  const bytes = Buffer.concat(chunks)
  plan.small.set(config.digest, bytes)
  const body = JSON.parse(bytes.toString('utf8')) as { os?: unknown, architecture?: unknown, variant?: unknown }
  if (typeof body.os !== 'string' || typeof body.architecture !== 'string') {
    throw new InvalidManifestError(`config ${config.digest} has no os/architecture`)
  }
  return typeof body.variant === 'string' ? { os: body.os, architecture: body.architecture, variant: body.variant } : { os: body.os, architecture: body.architecture }
}

function addLayers (plan: ImportPlan, manifest: ImageManifest): void {
  for (const layer of manifest.layers) {
    plan.blobs.set(layer.digest, layer)
  }
}
