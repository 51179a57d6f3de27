import { gzipSync } from 'node:zlib'
import { sha256Digest, type Digest } from '../../src/digest.js'
import * as mt from '../../src/media-types.js'
import { deterministicBytes } from './bytes.js'
import { tar } from './tar.js'

/** Builds test images and pushes them straight through the registry HTTP API (no docker needed). */
export interface Blob {
  digest: Digest
  size: number
  mediaType: string
  bytes: Uint8Array
}

export interface PushedManifest extends Blob {
  platform?: string
  config: Blob
  layers: Blob[]
}

export interface PushedImage extends Blob {
  repository: string
  tag: string
  manifests: PushedManifest[]
  /** Every blob of the image by digest: top manifest, child manifests, configs, layers. */
  blobs: Map<Digest, Blob>
}

const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
const blob = (bytes: Uint8Array, mediaType: string): Blob => ({ digest: sha256Digest(bytes), size: bytes.length, mediaType, bytes })
const descriptor = (b: Blob): Record<string, unknown> => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })

export async function pushBlob (registry: string, repository: string, b: Blob): Promise<void> {
  const start = await fetch(`${registry}/v2/${repository}/blobs/uploads/`, { method: 'POST' })
  const location = start.headers.get('location')
  if (start.status !== 202 || location === null) throw new Error(`upload start failed: ${start.status} ${await start.text()}`)
  const url = new URL(location, registry)
  url.searchParams.set('digest', b.digest)
  const put = await fetch(url, { method: 'PUT', body: b.bytes, headers: { 'content-type': 'application/octet-stream' } })
  if (put.status !== 201) throw new Error(`upload of ${b.digest} failed: ${put.status} ${await put.text()}`)
}

export async function pushManifest (registry: string, repository: string, reference: string, b: Blob): Promise<string | null> {
  const res = await fetch(`${registry}/v2/${repository}/manifests/${reference}`, { method: 'PUT', body: b.bytes, headers: { 'content-type': b.mediaType } })
  if (res.status !== 201) throw new Error(`manifest push ${repository}:${reference} failed: ${res.status} ${await res.text()}`)
  return res.headers.get('docker-content-digest')
}

/** A gzipped tar with /hello (a shell-less "rootfs") and a config whose diff_ids match. */
function platformImage (platform: string, format: 'oci' | 'docker', extraLayers: Array<{ layer: Blob, diffId: Digest }> = []): PushedManifest {
  const [os = 'linux', architecture = 'amd64', variant] = platform.split('/')
  const rootfs = tar([{ name: 'etc', directory: true }, { name: 'hello', content: new TextEncoder().encode(`hello from ${platform}\n`), mode: 0o755 }])
  const layer = blob(gzipSync(rootfs), format === 'oci' ? mt.OCI_LAYER_GZIP : mt.DOCKER_LAYER_GZIP)
  const layers = [{ layer, diffId: sha256Digest(rootfs) }, ...extraLayers]
  const config = blob(json({
    architecture, os, ...(variant === undefined ? {} : { variant }),
    config: { Cmd: ['/hello'], Env: ['PATH=/'] },
    rootfs: { type: 'layers', diff_ids: layers.map(l => l.diffId) },
    history: layers.map(() => ({ created_by: 'distromash test' }))
  }), format === 'oci' ? mt.OCI_CONFIG : mt.DOCKER_CONFIG)
  const manifest = blob(json({
    schemaVersion: 2,
    mediaType: format === 'oci' ? mt.OCI_MANIFEST : mt.DOCKER_MANIFEST,
    config: descriptor(config),
    layers: layers.map(l => descriptor(l.layer))
  }), format === 'oci' ? mt.OCI_MANIFEST : mt.DOCKER_MANIFEST)
  return { ...manifest, platform, config, layers: layers.map(l => l.layer) }
}

/** An in-toto attestation manifest for `subject`, as BuildKit attaches them (platform unknown/unknown). */
function attestation (subject: Blob, seed: number): PushedManifest {
  const statement = blob(json({ _type: 'https://in-toto.io/Statement/v0.1', seed }), 'application/vnd.in-toto+json')
  const config = blob(json({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: [statement.digest] } }), mt.OCI_CONFIG)
  const manifest = blob(json({ schemaVersion: 2, mediaType: mt.OCI_MANIFEST, config: descriptor(config), layers: [descriptor(statement)] }), mt.OCI_MANIFEST)
  return { ...manifest, config, layers: [statement], platform: `attestation-for:${subject.digest}` }
}

async function pushAll (registry: string, repository: string, manifests: PushedManifest[]): Promise<Map<Digest, Blob>> {
  const blobs = new Map<Digest, Blob>()
  for (const m of manifests) {
    for (const b of [m.config, ...m.layers]) {
      if (!blobs.has(b.digest)) await pushBlob(registry, repository, b)
      blobs.set(b.digest, b)
    }
    await pushManifest(registry, repository, m.digest, m)
    blobs.set(m.digest, m)
  }
  return blobs
}

export interface MultiOptions {
  /** Size of the extra uncompressed layer on linux/amd64 (default 5 MiB: several 256 KiB chunks, over 4 MiB). */
  bigLayerBytes?: number
  seed?: number
}

/** linux/amd64 (with a big second layer) + linux/arm64/v8 + an attestation, as an OCI index. */
export async function pushMultiPlatformImage (registry: string, repository: string, tag: string, options: MultiOptions = {}): Promise<PushedImage> {
  const seed = options.seed ?? 1
  const bigTar = tar([{ name: 'big.bin', content: deterministicBytes(options.bigLayerBytes ?? 5 * 1024 * 1024 + 123, seed) }])
  const big = { layer: blob(bigTar, mt.OCI_LAYER), diffId: sha256Digest(bigTar) }
  const amd64 = platformImage('linux/amd64', 'oci', [big])
  const arm64 = platformImage('linux/arm64/v8', 'oci')
  const att = attestation(amd64, seed)
  const manifests = [amd64, arm64, att]
  const blobs = await pushAll(registry, repository, manifests)
  const index = blob(json({
    schemaVersion: 2,
    mediaType: mt.OCI_INDEX,
    manifests: [
      { ...descriptor(amd64), platform: { os: 'linux', architecture: 'amd64' } },
      { ...descriptor(arm64), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { ...descriptor(att), platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64.digest } }
    ]
  }), mt.OCI_INDEX)
  await pushManifest(registry, repository, tag, index)
  blobs.set(index.digest, index)
  return { ...index, repository, tag, manifests, blobs }
}

/** A single-platform Docker schema2 image (gzip layer, Docker media types). */
export async function pushSingleImage (registry: string, repository: string, tag: string, platform = 'linux/amd64'): Promise<PushedImage> {
  const manifest = platformImage(platform, 'docker')
  const blobs = await pushAll(registry, repository, [manifest])
  await pushManifest(registry, repository, tag, manifest)
  return { ...manifest, repository, tag, manifests: [manifest], blobs }
}

/**
 * A single-platform OCI image whose layers are blobs of exactly `sizes` bytes (deterministic, not
 * tars: for tests of how blobs become IPFS DAGs, e.g. at the chunk and link-count boundaries).
 */
export async function pushSizedLayersImage (registry: string, repository: string, tag: string, sizes: number[], seed = 7): Promise<PushedImage> {
  const layers = sizes.map((size, i) => blob(deterministicBytes(size, seed + i), mt.OCI_LAYER))
  const config = blob(json({
    architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map(l => l.digest) }
  }), mt.OCI_CONFIG)
  const manifest = blob(json({ schemaVersion: 2, mediaType: mt.OCI_MANIFEST, config: descriptor(config), layers: layers.map(descriptor) }), mt.OCI_MANIFEST)
  const pushed: PushedManifest = { ...manifest, platform: 'linux/amd64', config, layers }
  const blobs = await pushAll(registry, repository, [pushed])
  await pushManifest(registry, repository, tag, manifest)
  return { ...manifest, repository, tag, manifests: [pushed], blobs }
}
