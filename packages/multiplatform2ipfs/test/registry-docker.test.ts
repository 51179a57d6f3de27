import { MemoryBlockstore } from 'blockstore-core/memory'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DockerEngine, importBusyboxImage } from '../../../test/helpers/docker.js'
import { importImage, type ImportedImage } from '../src/importer.js'
import { memoryDigestIndex } from '../src/layout/digest-index.js'
import { MANIFEST_ACCEPT } from '../src/media-types.js'
import { createRegistryClient } from '../src/upstream/client.js'
import { startOciRegistry, type RunningOciRegistry } from './helpers/oci-registry.js'
import { startRegistry, type RunningRegistry } from './helpers/registry.js'

const MESSAGE = 'hello from distromash'

let pusher: DockerEngine | undefined
let puller: DockerEngine | undefined
let upstream: RunningRegistry
let ours: RunningOciRegistry
let image: ImportedImage
let upstreamDigest: string

beforeAll(async () => {
  // two private engines: one builds and pushes, the other only ever sees our registry
  const engines = await Promise.allSettled([DockerEngine.start(), DockerEngine.start()])
  pusher = engines[0].status === 'fulfilled' ? engines[0].value : undefined
  puller = engines[1].status === 'fulfilled' ? engines[1].value : undefined
  for (const e of engines) if (e.status === 'rejected') throw e.reason
  upstream = await startRegistry()
  await importBusyboxImage(pusher!, 'dmtest/hello:1', MESSAGE)
  await pusher!.docker('tag', 'dmtest/hello:1', `${upstream.host}/dmtest/hello:1`)
  await pusher!.docker('push', '--quiet', `${upstream.host}/dmtest/hello:1`)
  const head = await fetch(`${upstream.url}/v2/dmtest/hello/manifests/1`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } })
  upstreamDigest = head.headers.get('docker-content-digest') ?? ''
  const blockstore = new MemoryBlockstore()
  const digestIndex = memoryDigestIndex()
  image = await importImage(`${upstream.host}/dmtest/hello:1`, { client: createRegistryClient(), blockstore, digestIndex })
  ours = await startOciRegistry({ blockstore, digestIndex })
  await ours.catalog.record({
    name: 'dmtest/hello', tag: '1', cid: image.cid.toString(), digest: image.digest, mediaType: image.mediaType,
    platforms: image.platforms, size: image.size, source: upstream.host, importedBy: 'local', at: new Date().toISOString()
  })
}, 120_000)

afterAll(async () => {
  await Promise.all([pusher?.stop(), puller?.stop()])
  await ours?.stop()
  await upstream?.stop()
}, 60_000)

async function repoDigests (engine: DockerEngine, ref: string): Promise<string[]> {
  return JSON.parse(await engine.docker('inspect', '--format', '{{json .RepoDigests}}', ref)) as string[]
}

describe('a real Docker engine against the registry', () => {
  it('pulls by CID and by name:tag, runs the image, and keeps the upstream digest', async () => {
    expect(upstreamDigest).toMatch(/^sha256:/)
    expect(image.digest).toBe(upstreamDigest)
    const byCid = `${ours.host}/${image.cid.toString()}`
    await puller!.docker('pull', '--quiet', byCid)
    expect(await puller!.docker('run', '--rm', '--network', 'none', byCid)).toBe(MESSAGE)
    const byName = `${ours.host}/dmtest/hello:1`
    await puller!.docker('pull', '--quiet', byName)
    expect(await puller!.docker('run', '--rm', '--network', 'none', byName)).toBe(MESSAGE)
    const first = await puller!.docker('inspect', '--format', '{{index .RepoDigests 0}}', byName)
    expect(first.split('@')[1]).toBe(upstreamDigest)
    for (const d of await repoDigests(puller!, byName)) expect(d.split('@')[1]).toBe(upstreamDigest)
  }, 120_000)

  it('resolves library/ aliases: an image recorded as `hello` pulls as hello and library/hello', async () => {
    await ours.catalog.record({ ...(await ours.catalog.get('dmtest/hello:1'))!, name: 'hello' })
    for (const ref of [`${ours.host}/library/hello:1`, `${ours.host}/hello:1`]) {
      await puller!.docker('pull', '--quiet', ref)
      expect(await puller!.docker('run', '--rm', '--network', 'none', ref)).toBe(MESSAGE)
    }
  }, 120_000)

  it('takes a docker push, and another engine pulls and runs what was pushed', async () => {
    const pushed = `${ours.host}/pushed/hello:2`
    await pusher!.docker('tag', 'dmtest/hello:1', pushed)
    await pusher!.docker('push', '--quiet', pushed)
    const rec = await ours.catalog.resolve('pushed/hello', '2')
    expect(rec).toMatchObject({ source: 'push', digest: upstreamDigest, platforms: ['linux/amd64'] })
    await puller!.docker('pull', '--quiet', pushed)
    expect(await puller!.docker('run', '--rm', '--network', 'none', pushed)).toBe(MESSAGE)
    // and by the CID the push produced
    await puller!.docker('pull', '--quiet', `${ours.host}/${rec?.cid ?? ''}`)
  }, 120_000)
})
