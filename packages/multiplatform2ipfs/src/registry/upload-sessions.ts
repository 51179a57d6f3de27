/*
 * In-progress blob uploads: one file per session in uploadsDir, hashed as it is written, so the
 * digest check at the end needs no second pass. Sessions share nothing, so there is no lock
 * between them; a session refuses a second concurrent write instead of interleaving bytes.
 */
import { randomUUID, createHash, type Hash } from 'node:crypto'
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs'
import { mkdir, readdir, rm, statfs } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { DigestMismatchError } from '../errors.js'
import { addFile, type StoredFile } from '../layout/unixfs.js'
import { DiskFullError, TooManyUploadsError, UploadInvalidError, UploadTooLargeError, UploadUnknownError } from './errors.js'
import type { Digest } from '../digest.js'
import { DEFAULT_DISK_RESERVE_BYTES, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_MAX_UPLOAD_SESSIONS, type RegistryComponents, type RegistryInit } from './components.js'
import type { Readable } from 'node:stream'

export interface UploadSession {
  readonly id: string
  readonly name: string
  /** Bytes received so far (the next chunk must start here). */
  size: number
  busy: boolean
  touched: number
  readonly path: string
  readonly hash: Hash
}

/**
 * Budgets (RegistryInit): at most maxUploadSessions open, each at most maxUploadBytes, no upload
 * while the disk has less than diskReserveBytes free, idle sessions swept after uploadIdleMs, and
 * whatever a previous process left in uploadsDir removed at start.
 */
export class UploadSessions {
  private readonly sessions = new Map<string, UploadSession>()

  constructor (
    private readonly components: Pick<RegistryComponents, 'uploadsDir' | 'blockstore' | 'digestIndex' | 'writer' | 'admit'>,
    private readonly limits: Pick<RegistryInit, 'maxUploadSessions' | 'maxUploadBytes' | 'diskReserveBytes'> = {}
  ) {}

  /** Sessions do not survive a restart: their files are garbage */
  async open (): Promise<void> {
    await mkdir(this.components.uploadsDir, { recursive: true })
    for (const file of await readdir(this.components.uploadsDir)) await rm(join(this.components.uploadsDir, file), { recursive: true, force: true })
  }

  get count (): number { return this.sessions.size }

  /** What the open sessions' files hold (a session's file goes when the session ends) */
  get bytes (): number {
    let total = 0
    for (const session of this.sessions.values()) total += session.size
    return total
  }

  async start (name: string): Promise<UploadSession> {
    await mkdir(this.components.uploadsDir, { recursive: true })
    await this.checkDisk()
    // checked after the awaits, and the session added at once: concurrent starts cannot all pass
    const max = this.limits.maxUploadSessions ?? DEFAULT_MAX_UPLOAD_SESSIONS
    if (this.sessions.size >= max) throw new TooManyUploadsError(`${max} uploads are open: finish or cancel one first`)
    const id = randomUUID()
    const session: UploadSession = { id, name, size: 0, busy: false, touched: Date.now(), path: join(this.components.uploadsDir, id), hash: createHash('sha256') }
    this.sessions.set(id, session)
    return session
  }

  /** The session `id` of repository `name`; ids are unguessable UUIDs, names must match too. */
  get (name: string, id: string): UploadSession {
    const session = this.sessions.get(id)
    if (session === undefined || session.name !== name) throw new UploadUnknownError(`upload ${id.slice(0, 64)} is not known`, { uuid: id.slice(0, 64) })
    return session
  }

  /** Appends a request body; on failure the session keeps exactly the bytes that were written. */
  async append (session: UploadSession, body: Readable, signal: AbortSignal): Promise<void> {
    if (session.busy) throw new UploadInvalidError(`upload ${session.id} is already receiving a chunk`)
    await this.checkDisk()
    const maxBytes = this.limits.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES
    session.busy = true
    try {
      const count = new Transform({
        transform (chunk: Buffer, _encoding, callback) {
          if (session.size + chunk.byteLength > maxBytes) {
            callback(new UploadTooLargeError(`upload is over the ${maxBytes} byte limit`))
            return
          }
          session.hash.update(chunk)
          session.size += chunk.byteLength
          callback(null, chunk)
        }
      })
      await pipeline(body, count, createWriteStream(session.path, { flags: 'a' }), { signal })
    } catch (err) {
      // the hash may have seen bytes the file never got: the session cannot be resumed safely
      await this.cancel(session)
      throw err
    } finally {
      session.busy = false
      session.touched = Date.now()
    }
  }

  /**
   * Checks the digest and moves the bytes into IPFS; nothing is stored on a mismatch. The session
   * ends either way: clients start a failed blob upload over, and a full disk (the usual reason a
   * store fails) would otherwise keep every refused upload's file for the idle timeout, each one
   * counted against the budget that refused it.
   */
  async finish (session: UploadSession, digest: Digest, signal: AbortSignal): Promise<StoredFile> {
    if (session.busy) throw new UploadInvalidError(`upload ${session.id} is still receiving a chunk`)
    session.busy = true
    try {
      const actual: Digest = `sha256:${session.hash.copy().digest('hex')}`
      if (actual !== digest) throw new DigestMismatchError(`upload hashes to ${actual}, not ${digest}`)
      this.components.admit?.(session.size)
      const stored = await this.store(session.path, signal)
      await this.components.digestIndex.put(digest, stored, { signal })
      return stored
    } finally {
      session.busy = false
      await this.cancel(session)
    }
  }

  /** The finished upload as a UnixFS file, through the components' bulk writer when there is one */
  private async store (path: string, signal: AbortSignal): Promise<StoredFile> {
    const content = (): ReadStream => createReadStream(path, { highWaterMark: 1024 * 1024 })
    const { writer: bulk, blockstore } = this.components
    if (bulk === undefined) return await addFile(content(), blockstore, { signal })
    const writer = bulk()
    try {
      const stored = await addFile(content(), { put: async (cid, bytes, options) => { await writer.put(cid, bytes as Uint8Array, options); return cid } }, { signal })
      await writer.close()
      return stored
    } catch (err) {
      writer.abort(err)
      throw err
    }
  }

  private async checkDisk (): Promise<void> {
    const reserve = this.limits.diskReserveBytes ?? DEFAULT_DISK_RESERVE_BYTES
    const fs = await statfs(this.components.uploadsDir)
    const free = fs.bavail * fs.bsize
    if (free < reserve) throw new DiskFullError(`${free} bytes free on the uploads disk, under the ${reserve} byte reserve`)
  }

  async cancel (session: UploadSession): Promise<void> {
    this.sessions.delete(session.id)
    await rm(session.path, { force: true })
  }

  /** Drops sessions idle longer than `idleMs` (a client that went away mid-push). */
  async sweep (idleMs: number): Promise<void> {
    const cutoff = Date.now() - idleMs
    for (const session of [...this.sessions.values()]) {
      if (!session.busy && session.touched < cutoff) await this.cancel(session)
    }
  }

  async close (): Promise<void> {
    for (const session of [...this.sessions.values()]) await this.cancel(session)
  }
}
