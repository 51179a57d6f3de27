import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { importer } from 'ipfs-unixfs-importer'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importImage, type ImportedImage } from '../src/importer.js'
import { memoryDigestIndex } from '../src/layout/digest-index.js'
import { exportLayout } from '../src/layout/export.js'
import { kuboImporterOptions } from '../src/layout/unixfs.js'
import { createRegistryClient } from '../src/upstream/client.js'
import { pushMultiPlatformImage, pushSingleImage, type PushedImage } from './helpers/images.js'
import { startRegistry, type RunningRegistry } from './helpers/registry.js'

const run = promisify(execFile)
const SKOPEO = '/usr/bin/skopeo'

let registry: RunningRegistry
let multi: PushedImage
let work: string
const blockstore = new MemoryBlockstore()
let multiResult: ImportedImage
let singleResult: ImportedImage

beforeAll(async () => {
  registry = await startRegistry()
  work = await mkdtemp(join(tmpdir(), 'mp2ipfs-export-'))
  multi = await pushMultiPlatformImage(registry.url, 'test/multi', '1')
  await pushSingleImage(registry.url, 'test/single', '2')
  const components = { client: createRegistryClient(), blockstore, digestIndex: memoryDigestIndex() }
  multiResult = await importImage(`${registry.host}/test/multi:1`, components)
  singleResult = await importImage(`${registry.host}/test/single:2`, components)
})

afterAll(async () => {
  await registry?.stop()
  if (work !== undefined) await rm(work, { recursive: true, force: true })
})

async function files (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.push(relative(dir, join(entry.parentPath, entry.name)))
  }
  return out.sort()
}

describe('exportLayout', () => {
  it('writes a plain OCI layout whose `ipfs add -r` import gives the same root CID', async () => {
    const dir = join(work, 'multi')
    await exportLayout(multiResult.cid, blockstore, dir)
    const names = await files(dir)
    expect(names).toEqual(['blobs/sha256/' + [...multi.blobs.keys()].map(d => d.slice(7)).sort().join('\nblobs/sha256/'), 'index.json', 'oci-layout'].join('\n').split('\n').sort())
    for (const blob of multi.blobs.values()) {
      expect((await stat(join(dir, 'blobs/sha256', blob.digest.slice(7)))).size).toBe(blob.size)
    }
    const candidates = await Promise.all(names.map(async path => ({ path: `multi/${path}`, content: await readFile(join(dir, path)) })))
    let root: string | undefined
    for await (const entry of importer(candidates, new MemoryBlockstore(), kuboImporterOptions())) {
      if (entry.path === 'multi') root = entry.cid.toString()
    }
    expect(root).toBe(multiResult.cid.toString())
  })

  it('is accepted by skopeo (oci: transport), multi-platform and single', async () => {
    if (!existsSync(SKOPEO)) {
      throw new Error(`${SKOPEO} is missing: install skopeo (apt-get install skopeo)`)
    }
    const dir = join(work, 'skopeo-multi')
    await exportLayout(multiResult.cid, blockstore, dir)
    const raw = await run(SKOPEO, ['inspect', '--raw', `oci:${dir}:1`])
    expect(JSON.parse(raw.stdout).manifests).toHaveLength(3)
    const inspect = await run(SKOPEO, ['inspect', '--override-os', 'linux', '--override-arch', 'arm64', `oci:${dir}:1`])
    expect(JSON.parse(inspect.stdout)).toMatchObject({ Architecture: 'arm64', Os: 'linux' })
    // copying every instance re-reads and verifies every blob digest
    await run(SKOPEO, ['copy', '--all', '--quiet', `oci:${dir}:1`, `oci:${join(work, 'copied')}:1`])

    const singleDir = join(work, 'skopeo-single')
    await exportLayout(singleResult.cid, blockstore, singleDir)
    // by tag, containers/image only looks at OCI-typed descriptors; a Docker schema2 top is the layout's only entry, so no tag is needed
    await run(SKOPEO, ['copy', '--quiet', `oci:${singleDir}`, `dir:${join(work, 'single-dir')}`])
    expect(existsSync(join(work, 'single-dir', 'manifest.json'))).toBe(true)
  })
})
