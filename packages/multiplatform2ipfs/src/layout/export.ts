import { createWriteStream } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { digestHex } from '../digest.js'
import { INDEX_FILE, OCI_LAYOUT_FILE } from './oci-layout.js'
import { openLayout } from './reader.js'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

/**
 * Writes the layout under `cid` to `dir` as a plain OCI image layout on disk
 * (for `skopeo copy oci:DIR …`, `ipfs add -r` comparisons, or debugging).
 */
export async function exportLayout (cid: CID, blockstore: Pick<Blockstore, 'get'>, dir: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  const layout = openLayout(cid, blockstore)
  const blobsDir = join(dir, 'blobs', 'sha256')
  await mkdir(blobsDir, { recursive: true })
  await writeFile(join(dir, OCI_LAYOUT_FILE), await layout.readFile(OCI_LAYOUT_FILE, options))
  await writeFile(join(dir, INDEX_FILE), await layout.readFile(INDEX_FILE, options))
  for await (const blob of layout.blobs(options)) {
    const target = join(blobsDir, digestHex(blob.digest))
    await pipeline(Readable.from(layout.blob(blob.digest, options)), createWriteStream(target), { signal: options.signal })
  }
}
