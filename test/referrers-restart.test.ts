import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256Digest } from '../packages/multiplatform2ipfs/src/digest.js'
import * as mt from '../packages/multiplatform2ipfs/src/media-types.js'
import { pushBlob, pushManifest, pushSingleImage, type Blob } from '../packages/multiplatform2ipfs/test/helpers/images.js'
import { NodeProcess } from './helpers/node-process.js'

const blob = (bytes: Uint8Array, mediaType: string): Blob => ({ digest: sha256Digest(bytes), size: bytes.length, mediaType, bytes })
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))

/** The referrers API's index lives in the node's datastore: a restart keeps which manifests refer to which. */
describe('referrers across a restart', () => {
  let node: NodeProcess
  beforeAll(async () => { node = await NodeProcess.start({ extraArgs: ['--docker-host', 'unix:///nonexistent.sock'] }) })
  afterAll(async () => { await node?.stop() })

  it('a signature pushed with a subject is listed by GET /v2/<name>/referrers/<digest> before and after a restart', async () => {
    const image = await pushSingleImage(node.registryUrl, 'dmtest/signed', '1')
    const config = blob(json({}), 'application/vnd.oci.empty.v1+json')
    const payload = blob(new TextEncoder().encode('signature'), 'application/vnd.dev.cosign.simplesigning.v1+json')
    await pushBlob(node.registryUrl, 'dmtest/signed', config)
    await pushBlob(node.registryUrl, 'dmtest/signed', payload)
    const signature = blob(json({
      schemaVersion: 2, mediaType: mt.OCI_MANIFEST, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: [{ mediaType: payload.mediaType, digest: payload.digest, size: payload.size }],
      subject: { mediaType: image.mediaType, digest: image.digest, size: image.size }
    }), mt.OCI_MANIFEST)
    await pushManifest(node.registryUrl, 'dmtest/signed', signature.digest, signature)
    const referrers = async (): Promise<string[]> => {
      const res = await fetch(`${node.registryUrl}/v2/dmtest/signed/referrers/${image.digest}`)
      expect(res.status).toBe(200)
      return ((await res.json()) as { manifests: Array<{ digest: string }> }).manifests.map(m => m.digest)
    }
    expect(await referrers()).toEqual([signature.digest])
    await node.restart()
    expect(await referrers()).toEqual([signature.digest])
  }, 60_000)
})
