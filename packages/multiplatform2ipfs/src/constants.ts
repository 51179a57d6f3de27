import { availableParallelism } from 'node:os'

/** Kubo's `ipfs add` defaults (`--cid-version=1` implies raw leaves): fixed-size chunks of 256 KiB. */
export const CHUNK_SIZE = 262_144

/** Kubo's balanced layout puts at most 174 links in one file node. */
export const MAX_CHILDREN_PER_NODE = 174

/** Kubo shards a directory into a HAMT once its estimated size (names + CIDs) crosses 256 KiB. */
export const HAMT_THRESHOLD_BYTES = 262_144

/** distribution refuses manifests over 4 MiB; so do we, before parsing JSON. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024

export const DEFAULT_REGISTRY = 'docker.io'
export const DOCKER_HUB_API = 'https://registry-1.docker.io'
export const DEFAULT_TAG = 'latest'

/** Parallel blob downloads per import: enough to fill a link, few enough to be polite upstream. */
export const DEFAULT_BLOB_CONCURRENCY = 3

/**
 * Worker threads hashing blob pieces during an import, beside the main thread that reads the
 * network: one per spare core, at most 2. One worker hashes a 288 MiB import twice in ~0.4 s,
 * well under the main thread's share; on 2 cores a second one only competes for them.
 */
export const DEFAULT_HASH_WORKERS = Math.max(1, Math.min(2, availableParallelism() - 1))

/** Applies to everything but blob bodies (manifests, tokens, blob response headers). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

/** Tokens without `expires_in` are valid for 60 s per the Docker token spec. */
export const DEFAULT_TOKEN_TTL_SECONDS = 60

export const OCI_LAYOUT_VERSION = '1.0.0'
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name'
