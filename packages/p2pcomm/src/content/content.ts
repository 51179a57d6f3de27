import type { CID } from 'multiformats/cid'
import type { Swarm } from '../blocks/swarm-fetch.js'

/**
 * Where a node keeps its content (IPFS blocks and pins): its embedded Helia, or a Kubo daemon
 * beside it. The composition root picks one; everything else (importer, registry, reconciler,
 * pin API) sees only this interface. Every block crossing it is checked against its CID.
 */
export interface Content {
  /** Which backend this is, for the banner, the API and the dashboard */
  readonly backend: ContentBackend
  /** A block, from peers when it is not held here; rejects with InvalidBlockError when the bytes are not the CID's */
  get(cid: CID, options?: GetOptions): Promise<Uint8Array>
  /** Whether the block is held here (never asks the network) */
  has(cid: CID, options?: AbortOptions): Promise<boolean>
  /** Stores one block; InvalidBlockError when the bytes are not the CID's */
  put(cid: CID, bytes: Uint8Array, options?: PutOptions): Promise<void>
  /**
   * A bulk put: blocks written through it land together (Kubo: one streamed `dag import` of a
   * CAR, not a request per block) and are all stored once its close() resolves.
   */
  writer(options?: PutOptions): BlockWriter
  /**
   * Brings every block of these DAGs here ahead of their pins. `swarm` names the peers to ask
   * first where the backend chooses its peers itself (embedded); a backend whose pins fetch over
   * its own exchange (Kubo) may leave the fetching to `pin`.
   */
  fetch(roots: CID[], options?: FetchOptions): Promise<FetchResult>
  /** Pins a DAG (depth 0: only its root block), fetching what is missing; idempotent */
  pin(cid: CID, options?: PinOptions): Promise<void>
  /** Removes a pin; a CID not pinned is not an error */
  unpin(cid: CID, options?: AbortOptions): Promise<void>
  /** Every direct and recursive pin */
  pinned(options?: AbortOptions): AsyncIterable<Pinned>
  /** Whether this CID is pinned itself, directly or recursively (not only held through another pin) */
  isPinned(cid: CID, options?: AbortOptions): Promise<boolean>
  /** Blocks and bytes held; rejects with ContentUnavailableError when the backend cannot be reached */
  stat(options?: AbortOptions): Promise<ContentStat>
}

export type ContentBackend = { kind: 'embedded', description: string } | { kind: 'kubo', url: string, description: string }

export interface AbortOptions {
  signal?: AbortSignal
}

export interface GetOptions extends AbortOptions {
  /** Peers to ask for a missing block before anyone else (embedded backend; others ignore it) */
  swarm?: Swarm
}

export interface PutOptions extends AbortOptions {
  /**
   * The caller computed every CID from its bytes itself, just now (an import hashes each piece
   * once, on a worker): they are not hashed a second time on this thread. Anything that came
   * from elsewhere (a peer, a client, a file) is never put with this.
   */
  hashed?: boolean
}

export interface Block {
  cid: CID
  bytes: Uint8Array
}

export interface BlockWriter {
  /** Resolves once the caller may reuse `bytes` (the block is stored by close() at the latest) */
  put(cid: CID, bytes: Uint8Array, options?: AbortOptions): Promise<void>
  /** Whether the block is held here or was written through this writer */
  has(cid: CID, options?: AbortOptions): Promise<boolean>
  /** Every block written is stored; rejects with the first failure */
  close(): Promise<void>
  /** Gives up: blocks not stored yet may never be */
  abort(reason?: unknown): void
}

export interface FetchOptions extends AbortOptions {
  swarm?: Swarm
  /** Bytes of leaves that arrived so far, and the total when known */
  onProgress?: (done: number) => void
  /** Called once every block is local or on its way: readers may wait for them from now on */
  onStarted?: () => void
  /**
   * Called once for each root as soon as every block of its DAG is here, before the fetch ends
   * (it can be pinned while the rest arrives). A backend that fetches while it pins (Kubo) does
   * not call it.
   */
  onFetched?: (root: CID) => void
}

export interface FetchResult {
  /** Blocks no peer of the swarm gave, fetched over the backend's general exchange (bitswap) */
  overBitswap: number
}

export interface PinOptions extends AbortOptions {
  /** 0: the root block only; Infinity (default): the whole DAG */
  depth?: number
  /** Blocks pinned (and fetched when missing) so far */
  onProgress?: (blocks: number) => void
}

export interface Pinned {
  cid: CID
  depth: number
  /** Helia metadata of a pin made before pins were kept behind this interface (embedded only) */
  metadata?: Record<string, string | number | boolean>
}

export interface ContentStat {
  /** Bytes of blocks held */
  bytes: number
  /** Blocks held, where the backend counts them cheaply (Kubo walks its whole repo to count) */
  blocks?: number
}

/** The backend cannot be reached (Kubo's API is down or refuses connections) */
export class ContentUnavailableError extends Error {
  override name = 'ContentUnavailableError'
}

/** Bytes that are not the block their CID names, from a caller or from the backend */
export class InvalidBlockError extends Error {
  override name = 'InvalidBlockError'
}
