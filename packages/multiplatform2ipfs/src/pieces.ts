/**
 * Regroups a byte stream into pieces of exactly `size` bytes; the last may be shorter and an
 * empty stream gives none. Every byte is copied at most once: a piece lying whole inside one
 * incoming chunk is passed on as a view of it, without a copy.
 *
 * The importer's fixed-size chunker does the same job, but it copies every block out of a list of
 * network-sized reads; given block-sized pieces it passes them through untouched, so blocks and
 * CIDs are exactly what they would be otherwise.
 */
export async function * fixedSizePieces (source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let piece = Buffer.allocUnsafe(size)
  let filled = 0
  for await (const chunk of source) {
    let at = 0
    while (at < chunk.byteLength) {
      if (filled === 0 && chunk.byteLength - at >= size) {
        yield chunk.subarray(at, at + size)
        at += size
        continue
      }
      const n = Math.min(size - filled, chunk.byteLength - at)
      piece.set(chunk.subarray(at, at + n), filled)
      filled += n
      at += n
      if (filled === size) {
        yield piece
        piece = Buffer.allocUnsafe(size)
        filled = 0
      }
    }
  }
  if (filled > 0) yield piece.subarray(0, filled)
}
