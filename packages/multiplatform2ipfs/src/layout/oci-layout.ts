/*
 * An image in IPFS is an OCI image layout held as a UnixFS directory; its root CID names the image.
 *
 *   <root CID>/                  dag-pb UnixFS directory (HAMT only past Kubo's threshold)
 *   ├── oci-layout               {"imageLayoutVersion":"1.0.0"}
 *   ├── index.json               OCI index with one descriptor: the top manifest as served,
 *   │                            annotated org.opencontainers.image.ref.name=<tag>
 *   └── blobs/
 *       └── sha256/
 *           └── <hex>            every manifest, config and layer, byte-for-byte as upstream served it
 *
 * Every file is chunked as `ipfs add -r --cid-version=1` would, so Kubo users can rebuild the
 * same root CID from an exported directory. Only this file and reader.ts know these paths.
 */
import { ANNOTATION_REF_NAME, OCI_LAYOUT_VERSION } from '../constants.js'
import { digestHex, type Digest } from '../digest.js'
import { OCI_INDEX } from '../media-types.js'
import { addDirectory, addFile, type AddOptions, type StoredFile } from './unixfs.js'
import type { Descriptor } from '../manifest.js'
import type { Blockstore } from 'interface-blockstore'

export const OCI_LAYOUT_FILE = 'oci-layout'
export const INDEX_FILE = 'index.json'
export const BLOBS_DIR = 'blobs/sha256'

export function blobPath (digest: Digest): string {
  return `${BLOBS_DIR}/${digestHex(digest)}`
}

export function ociLayoutBytes (): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }))
}

/** index.json bytes: deterministic, so the same image always yields the same root CID. */
export function layoutIndexBytes (top: Pick<Descriptor, 'mediaType' | 'digest' | 'size'>, tag?: string): Uint8Array {
  const descriptor: Record<string, unknown> = { mediaType: top.mediaType, digest: top.digest, size: top.size }
  if (tag !== undefined) {
    descriptor.annotations = { [ANNOTATION_REF_NAME]: tag }
  }
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptor] }
  return new TextEncoder().encode(JSON.stringify(index))
}

export interface LayoutContent {
  /** The top manifest descriptor to put in index.json. */
  top: Pick<Descriptor, 'mediaType' | 'digest' | 'size'>
  tag?: string
  /** Every blob (manifests included), already stored and verified. */
  blobs: Map<Digest, StoredFile>
}

/** Writes oci-layout and index.json and links everything into the layout directory. */
export async function writeLayout (content: LayoutContent, blockstore: Pick<Blockstore, 'put'>, options: AddOptions = {}): Promise<StoredFile> {
  const files = new Map<string, StoredFile>()
  files.set(OCI_LAYOUT_FILE, await addFile(ociLayoutBytes(), blockstore, options))
  files.set(INDEX_FILE, await addFile(layoutIndexBytes(content.top, content.tag), blockstore, options))
  for (const [digest, file] of content.blobs) {
    files.set(blobPath(digest), file)
  }
  return addDirectory(files, blockstore, options)
}
