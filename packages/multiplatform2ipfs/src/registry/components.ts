import type { Catalog } from '../catalog.js'
import type { DigestIndex } from '../layout/digest-index.js'
import type { RequestObserver } from './observe.js'
import type { ReferrersIndex } from './referrers-index.js'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

/** pino-compatible subset. */
export interface RegistryLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface RegistryComponents {
  /** In a node, Helia's networked blockstore: a get of a missing block fetches it from peers. */
  blockstore: Pick<Blockstore, 'get' | 'put' | 'has'>
  digestIndex: DigestIndex
  catalog: Catalog
  /** Pins the root of a pushed image so it survives GC. */
  pins?: { add(cid: CID): Promise<void> }
  /** In-progress uploads are written here, one file per session. */
  uploadsDir: string
  /**
   * Bulk writes for an uploaded blob's blocks, where the store has a cheaper way than a put per
   * block (Kubo: one streamed `dag import`); `blockstore.put` when not given.
   */
  writer?: () => RegistryBlockWriter
  /**
   * Asked with a finished upload's size before any of its blocks is stored: throws a DiskFullError
   * (507) to refuse a blob that will not fit whole, rather than leave part of it behind as garbage
   */
  admit?: (bytes: number) => void
  /**
   * Awaited after each chunk of a blob is sent: a node slows its registry's reads down while it
   * has something more urgent to do (its peers waiting for blocks)
   */
  pace?: (bytes: number, signal: AbortSignal) => Promise<void>
  /** Which manifests refer to which (the referrers API); in memory when not given (referrers.ts) */
  referrers?: ReferrersIndex
  log?: RegistryLogger
}

export interface RegistryBlockWriter {
  /** Resolves once the caller may reuse `bytes` */
  put(cid: CID, bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>
  /** Every block put is stored */
  close(): Promise<void>
  abort(reason?: unknown): void
}

export interface RegistryInit {
  /** A block get that makes no progress for this long fails the request (default 60 s). */
  stallTimeoutMs?: number
  /** Blocks requested ahead of the one being sent (default 16, i.e. 4 MiB). */
  readAhead?: number
  /** Recorded as `importedBy` for pushed images (a peer id; default "local"). */
  importedBy?: string
  /** Upload sessions idle this long are deleted (default 10 min) */
  uploadIdleMs?: number
  /** Upload sessions open at once; one more is refused with 429 (default 256) */
  maxUploadSessions?: number
  /** Bytes one upload session may hold (default 16 GiB: a blob, so as large as a layer gets) */
  maxUploadBytes?: number
  /** Uploads are refused while the uploads directory's disk has less free space than this (default 1 GiB) */
  diskReserveBytes?: number
  /** Host names accepted besides IP literals and localhost (DNS rebinding defence, host.ts) */
  allowedHosts?: string[]
  /** Told of every request once its response has ended (metrics; observe.ts) */
  onRequest?: RequestObserver
}

export const DEFAULT_STALL_TIMEOUT_MS = 60_000
export const DEFAULT_READ_AHEAD = 16
export const DEFAULT_UPLOAD_IDLE_MS = 10 * 60 * 1000
export const DEFAULT_MAX_UPLOAD_SESSIONS = 256
export const DEFAULT_MAX_UPLOAD_BYTES = 16 * 1024 ** 3
export const DEFAULT_DISK_RESERVE_BYTES = 1024 ** 3
