import type { Digest } from './digest.js'
import type { CID } from 'multiformats/cid'
import type { ProgressEvent } from 'progress-events'

export interface BlobEvent {
  digest: Digest
  size: number
}

export interface BlobDoneEvent extends BlobEvent {
  cid: CID
}

export interface BytesEvent {
  /** Bytes downloaded and verified (or being verified) so far in this import. */
  done: number
  /** Bytes this import has to download (blobs already in the digest index excluded). */
  total: number
}

export interface ManifestEvent extends BlobEvent {
  mediaType: string
}

export interface ImportDoneEvent {
  cid: CID
  digest: Digest
}

/** Typed progress, Helia-style: `onProgress(new CustomProgressEvent('import:bytes', { done, total }))`. */
export type ImportProgressEvents =
  | ProgressEvent<'import:manifest', ManifestEvent>
  | ProgressEvent<'import:blob:start', BlobEvent>
  | ProgressEvent<'import:blob:skip', BlobEvent>
  | ProgressEvent<'import:blob:done', BlobDoneEvent>
  | ProgressEvent<'import:bytes', BytesEvent>
  | ProgressEvent<'import:done', ImportDoneEvent>
