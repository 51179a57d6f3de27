/**
 * Regroups a byte stream into pieces of exactly `size` bytes; the last may be shorter and an
 * empty stream gives none. Every byte is copied at most once: a piece lying whole inside one
 * incoming chunk is passed on as a view of it, without a copy, and the others are copied into
 * fresh buffers. Given `allocate` (a PiecePool's), every piece is copied into its buffers: a
 * worker reads those in place, while a view of a network chunk would be copied to it again.
 *
 * The importer's fixed-size chunker does the same job, but it copies every block out of a list of
 * network-sized reads; given block-sized pieces it passes them through untouched, so blocks and
 * CIDs are exactly what they would be otherwise.
 */
export async function * fixedSizePieces (source: AsyncIterable<Uint8Array>, size: number, allocate?: (size: number) => Uint8Array): AsyncGenerator<Uint8Array> {
  const filler = new PieceFiller(size, allocate)
  const full: Uint8Array[] = []
  for await (const chunk of source) {
    let at = 0
    // a piece lying whole inside the chunk goes on as a view of it, unless buffers were given
    while (allocate === undefined && filler.empty && chunk.byteLength - at >= size) {
      yield chunk.subarray(at, at + size)
      at += size
    }
    filler.add(at === 0 ? chunk : chunk.subarray(at), full)
    yield * full.splice(0)
  }
  const rest = filler.rest()
  if (rest !== undefined) yield rest
}

/**
 * Copies bytes as they come into pieces of exactly `size` bytes (from `allocate`, default fresh
 * buffers), for a source that pushes (a socket's read buffer, see upstream/http1.ts).
 */
export class PieceFiller {
  private piece: Uint8Array | undefined
  private filled = 0

  constructor (private readonly size: number, private readonly allocate: (size: number) => Uint8Array = n => Buffer.allocUnsafe(n)) {}

  /** True between pieces: no bytes are waiting for the rest of theirs */
  get empty (): boolean {
    return this.filled === 0
  }

  /** Copies `bytes` in, appending each piece it completes to `full`. */
  add (bytes: Uint8Array, full: Uint8Array[]): void {
    for (let at = 0; at < bytes.byteLength;) {
      this.piece ??= this.allocate(this.size)
      const n = Math.min(this.size - this.filled, bytes.byteLength - at)
      this.piece.set(bytes.subarray(at, at + n), this.filled)
      this.filled += n
      at += n
      if (this.filled === this.size) {
        full.push(this.piece)
        this.piece = undefined
        this.filled = 0
      }
    }
  }

  /**
   * The unfilled rest of the current piece, at most `max` bytes, for a read to land in place;
   * report what landed with `filledIn` before any other call.
   */
  space (max: number): Uint8Array {
    this.piece ??= this.allocate(this.size)
    return this.piece.subarray(this.filled, Math.min(this.size, this.filled + max))
  }

  /** Counts `n` bytes read into `space()`, appending the piece to `full` once it is complete. */
  filledIn (n: number, full: Uint8Array[]): void {
    if (this.piece === undefined || n > this.size - this.filled) throw new RangeError('more bytes than the space given')
    this.filled += n
    if (this.filled === this.size) {
      full.push(this.piece)
      this.piece = undefined
      this.filled = 0
    }
  }

  /** The last, shorter piece, if any bytes are left over. */
  rest (): Uint8Array | undefined {
    const rest = this.piece?.subarray(0, this.filled)
    this.piece = undefined
    this.filled = 0
    return rest !== undefined && rest.byteLength > 0 ? rest : undefined
  }
}

/**
 * Block-sized buffers in shared memory, reused. Shared, so a hashing worker reads a piece in
 * place (see HashPool); reused, because a fresh 256 KiB buffer per block costs page faults and
 * GC work on every block (measured: allocating and filling 288 MiB of fresh buffers ~190 ms,
 * refilling one ~5 ms). Only a piece whose every reader is done may be released: its bytes will
 * be overwritten.
 */
export class PiecePool {
  private readonly free: SharedArrayBuffer[] = []

  constructor (readonly size: number, private readonly maxFree = 128) {}

  acquire (): Buffer {
    return Buffer.from(this.free.pop() ?? new SharedArrayBuffer(this.size))
  }

  /** Takes back a piece from `acquire` (or a view of one, such as a shorter last piece). */
  release (piece: Uint8Array): void {
    const buffer = piece.buffer
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== this.size || this.free.length >= this.maxFree) return
    if (!this.free.includes(buffer)) this.free.push(buffer) // a second release must not hand it out twice
  }

  /** Drops the free buffers (an idle importer holds no memory). */
  clear (): void {
    this.free.length = 0
  }
}
