export * from './errors.js'
export { CHUNK_SIZE, MAX_CHILDREN_PER_NODE, HAMT_THRESHOLD_BYTES, MAX_MANIFEST_BYTES, DEFAULT_BLOB_CONCURRENCY } from './constants.js'
export { parseReference, formatReference, familiarName, type ImageReference } from './reference.js'
export { parseDigest, isDigest, digestHex, sha256Digest, verifyBytes, verifyStream, type Digest, type Expected } from './digest.js'
export * as mediaTypes from './media-types.js'
export {
  parseManifest, classifyManifest, isAttestation, platformDescriptors, matchingManifests,
  descriptorSchema, indexSchema, manifestSchema,
  type Descriptor, type ImageIndex, type ImageManifest, type ParsedManifest
} from './manifest.js'
export { parsePlatform, formatPlatform, normalizePlatform, platformMatches, type Platform } from './platform.js'
export { digestToRawCid, rawCidToDigest } from './layout/cid.js'
export { addFile, addDirectory, kuboImporterOptions, type StoredFile, type AddOptions } from './layout/unixfs.js'
export { writeLayout, blobPath, layoutIndexBytes, ociLayoutBytes, type LayoutContent } from './layout/oci-layout.js'
export { openLayout, type ImageLayout, type LayoutBlob, type RangeOptions, type ReadOptions } from './layout/reader.js'
export { exportLayout } from './layout/export.js'
export { memoryDigestIndex, type DigestIndex, type DigestIndexOptions } from './layout/digest-index.js'
export { datastoreDigestIndex } from './layout/datastore-digest-index.js'
export { leafSkippingWalker, type LeafSkippingWalkerInit, type PinWalker, type PinWalkerComponents } from './layout/pin-walker.js'
export { createRegistryClient, type RegistryClient, type RegistryClientInit, type RepositoryName, type ManifestResult, type RequestOptions } from './upstream/client.js'
export { registryBaseUrl, isLoopbackHost, type EndpointOptions } from './upstream/endpoint.js'
export type { Credentials, CredentialsSource } from './upstream/auth.js'
export { createImporter, importImage, type Importer, type ImporterComponents, type ImporterInit, type ImportOptions, type ImportedImage, type ImportWriter } from './importer.js'
export { fetchPlatform, platformBlobs, type PlatformFetchComponents, type PlatformFetchOptions, type PlatformContent } from './layout/platform-fetch.js'
export type { ImportProgressEvents, BlobEvent, BlobDoneEvent, BytesEvent, ManifestEvent, ImportDoneEvent } from './progress.js'
export {
  repositoryAliases, imageRecordSchema, cidRecordSchema,
  type Catalog, type ImageRecord, type CidRecord
} from './catalog.js'
export { memoryCatalog } from './catalog-memory.js'
export { createRegistry, type Registry } from './registry/server.js'
export type { RegistryRequest, RequestObserver } from './registry/observe.js'
export { hostAllowed } from './registry/host.js'
export { datastoreReferrersIndex, memoryReferrersIndex, type ReferrersIndex } from './registry/referrers-index.js'
export type { RegistryBlockWriter, RegistryComponents, RegistryInit, RegistryLogger } from './registry/components.js'
export {
  RegistryError, NameInvalidError, NameUnknownError, ManifestUnknownError, BlobUnknownError, ManifestBlobUnknownError,
  UploadUnknownError, UploadInvalidError, RangeInvalidError, SizeInvalidError, UnsupportedError, BlockTimeoutError,
  type OciErrorCode
} from './registry/errors.js'
