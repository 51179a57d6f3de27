import { createCipheriv, createHash } from 'node:crypto'

/** Pseudo-random but reproducible bytes (AES-CTR keystream keyed by the seed), so CIDs in tests are stable. */
export function deterministicBytes (length: number, seed: number): Uint8Array {
  const key = createHash('sha256').update(`seed:${seed}`).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()])
}

/** Re-chunks bytes at an arbitrary size, as a network stream would. */
export async function * toChunks (bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) {
    yield bytes.subarray(offset, offset + size)
  }
}

export async function collect (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const part of source) parts.push(part)
  return Buffer.concat(parts)
}
