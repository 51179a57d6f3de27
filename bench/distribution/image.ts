import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { copyFile, mkdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import type { LanHost } from '../../test/helpers/netns.js'

/**
 * The benchmark image, written as an OCI layout: a busybox base layer (so `docker run` works)
 * and `layers` layers of `layerMib` MiB of random bytes each. Layers stay uncompressed tar:
 * random bytes do not compress anyway, and skipping gzip keeps CPU out of the measurement.
 */

const execFileP = promisify(execFile)
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar'

export interface Blob { mediaType: string, digest: string, size: number }
export interface BuiltImage {
  layout: string
  /** Bytes a full pull moves: manifest, config and every layer */
  bytes: number
  layers: Blob[]
}

export async function buildImage (dir: string, layers: number, layerMib: number, { base = true } = {}): Promise<BuiltImage> {
  const layout = join(dir, 'layout')
  await mkdir(join(layout, 'blobs/sha256'), { recursive: true })
  // without the base, an image shares no block with another (a warm-up must leave nothing behind that the timed image uses)
  const blobs = base ? [await tarLayer(layout, join(dir, 'base'), busyboxRoot)] : []
  for (let i = 0; i < layers; i++) blobs.push(await tarLayer(layout, join(dir, `random-${i}`), async root => { await randomFile(root, i, layerMib) }))
  const config = await jsonBlob(layout, 'application/vnd.oci.image.config.v1+json', imageConfig(blobs))
  const manifest = await jsonBlob(layout, 'application/vnd.oci.image.manifest.v1+json', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: blobs })
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }))
  const bytes = [manifest, config, ...blobs].reduce((sum, b) => sum + b.size, 0)
  return { layout, bytes, layers: blobs }
}

/** Push the layout into a registry from inside `from` (the seed itself: its loopback is unshaped) */
export async function pushImage (from: LanHost, image: BuiltImage, ref: string): Promise<void> {
  await from.run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${image.layout}:bench`, `docker://${ref}`])
}

function imageConfig (layers: Blob[]): unknown {
  const architecture = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch
  return {
    architecture,
    os: 'linux',
    config: { Cmd: ['/bin/sh', '-c', 'ls /data && echo ok'] },
    // uncompressed layers: each diff ID is the blob digest itself
    rootfs: { type: 'layers', diff_ids: layers.map(l => l.digest) }
  }
}

async function busyboxRoot (root: string): Promise<void> {
  await mkdir(join(root, 'bin'), { recursive: true })
  await copyFile('/bin/busybox', join(root, 'bin/busybox'))
  for (const applet of ['sh', 'ls', 'echo', 'cat']) await symlink('busybox', join(root, 'bin', applet))
}

async function randomFile (root: string, index: number, mib: number): Promise<void> {
  await mkdir(join(root, 'data'), { recursive: true })
  const out = createWriteStream(join(root, 'data', `layer-${index}.bin`))
  await pipeline(async function * () { for (let i = 0; i < mib; i++) yield randomBytes(1024 * 1024) }, out)
}

/** Fill a directory, tar it, and store the tar as a content-addressed blob */
async function tarLayer (layout: string, root: string, fill: (root: string) => Promise<void>): Promise<Blob> {
  await mkdir(root, { recursive: true })
  await fill(root)
  const tar = `${root}.tar`
  await execFileP('tar', ['--numeric-owner', '-C', root, '-cf', tar, '.'])
  await rm(root, { recursive: true, force: true })
  const hash = createHash('sha256')
  await pipeline(createReadStream(tar), hash)
  const hex = hash.digest('hex')
  const size = (await stat(tar)).size
  await rename(tar, join(layout, 'blobs/sha256', hex))
  return { mediaType: LAYER_TYPE, digest: `sha256:${hex}`, size }
}

async function jsonBlob (layout: string, mediaType: string, value: unknown): Promise<Blob> {
  const bytes = Buffer.from(JSON.stringify(value))
  const hex = createHash('sha256').update(bytes).digest('hex')
  await writeFile(join(layout, 'blobs/sha256', hex), bytes)
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length }
}
