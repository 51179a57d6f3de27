import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { digestHex, sha256Digest } from '../src/digest.js'
import { importImage, type ImportedImage } from '../src/importer.js'
import { exportLayout } from '../src/layout/export.js'
import { createRegistryClient } from '../src/upstream/client.js'
import { pushMultiPlatformImage, type PushedImage } from './helpers/images.js'
import { startOciRegistry, type RunningOciRegistry } from './helpers/oci-registry.js'
import { startRegistry, type RunningRegistry } from './helpers/registry.js'

const run = promisify(execFile)
const SKOPEO = '/usr/bin/skopeo'

let upstream: RunningRegistry
let ours: RunningOciRegistry
let multi: PushedImage
let imported: ImportedImage
let work: string

beforeAll(async () => {
  if (!existsSync(SKOPEO)) throw new Error(`${SKOPEO} is missing: install skopeo (apt-get install skopeo)`)
  upstream = await startRegistry()
  ours = await startOciRegistry()
  work = await mkdtemp(join(tmpdir(), 'mp2ipfs-skopeo-'))
  multi = await pushMultiPlatformImage(upstream.url, 'test/multi', '1')
  imported = await importImage(`${upstream.host}/test/multi:1`, { client: createRegistryClient(), blockstore: ours.blockstore as never, digestIndex: ours.digestIndex })
  await ours.catalog.record({
    name: 'test/multi', tag: '1', cid: imported.cid.toString(), digest: imported.digest, mediaType: imported.mediaType,
    platforms: imported.platforms, size: imported.size, source: upstream.host, importedBy: 'local', at: new Date().toISOString()
  })
})

afterAll(async () => {
  await ours?.stop()
  await upstream?.stop()
  if (work !== undefined) await rm(work, { recursive: true, force: true })
})

const skopeo = async (...args: string[]): Promise<string> => (await run(SKOPEO, args, { maxBuffer: 16 * 1024 * 1024 })).stdout

async function indexDigest (dir: string): Promise<string> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }
  return index.manifests[0]?.digest ?? ''
}

// skopeo gzips uncompressed layers (the test image has one) unless told not to, which rewrites manifests;
// it does the same against docker-registry, so the flags keep the comparison byte-exact
describe('skopeo against the registry', () => {
  it('inspects and copies by catalog name and by CID, every platform, digests intact', async () => {
    for (const name of ['test/multi:1', `${imported.cid.toString()}:latest`]) {
      const raw = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${ours.host}/${name}`)) as { manifests: unknown[] }
      expect(raw.manifests).toHaveLength(3)
      const info = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--override-arch', 'arm64', `docker://${ours.host}/${name}`)) as { Digest: string, Architecture: string }
      expect(info.Digest).toBe(multi.digest)
      expect(info.Architecture).toBe('arm64')
      const dir = join(work, name.replace(/[/:]/g, '_'))
      await skopeo('copy', '--all', '--quiet', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--src-tls-verify=false', `docker://${ours.host}/${name}`, `oci:${dir}`)
      expect(await indexDigest(dir)).toBe(multi.digest)
      for (const blob of multi.blobs.values()) {
        expect(sha256Digest(await readFile(join(dir, 'blobs/sha256', digestHex(blob.digest))))).toBe(blob.digest)
      }
    }
    // a single platform, as `docker pull` would pick it
    await skopeo('copy', '--quiet', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--src-tls-verify=false', '--override-arch', 'amd64', `docker://${ours.host}/test/multi:1`, `oci:${join(work, 'amd64')}`)
    expect(await indexDigest(join(work, 'amd64'))).toBe(multi.manifests[0]?.digest)
  })

  it('takes a two-platform index pushed with skopeo copy --all, and gives it back unchanged', async () => {
    const src = join(work, 'src')
    await exportLayout(imported.cid, ours.blockstore, src)
    // a fresh registry: every blob must really be uploaded
    const target = await startOciRegistry()
    try {
      await skopeo('copy', '--all', '--quiet', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:1`, `docker://${target.host}/pushed/img:1`)
      const rec = await target.catalog.get('pushed/img:1')
      expect(rec).toMatchObject({ digest: multi.digest, platforms: ['linux/amd64', 'linux/arm64/v8'], source: 'push' })
      const back = join(work, 'back')
      await skopeo('copy', '--all', '--quiet', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--src-tls-verify=false', `docker://${target.host}/pushed/img:1`, `oci:${back}`)
      expect(await indexDigest(back)).toBe(multi.digest)
      // the pushed layout is the same image: the same root CID as the import
      expect(rec?.cid).toBe(imported.cid.toString())
      const byCid = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${target.host}/${rec?.cid ?? ''}`)) as { manifests: unknown[] }
      expect(byCid.manifests).toHaveLength(3)
    } finally {
      await target.stop()
    }
  })
})
