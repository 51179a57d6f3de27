/** A minimal ustar writer: enough for test layers (regular files and directories, root-owned, mtime 0). */
export interface TarEntry {
  name: string
  content?: Uint8Array
  mode?: number
  directory?: boolean
}

const BLOCK = 512

export function tar (entries: TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = []
  for (const entry of entries) {
    const content = entry.directory === true ? new Uint8Array(0) : entry.content ?? new Uint8Array(0)
    parts.push(header(entry, content.length), content, new Uint8Array((BLOCK - (content.length % BLOCK)) % BLOCK))
  }
  parts.push(new Uint8Array(BLOCK * 2)) // end-of-archive marker
  return Buffer.concat(parts)
}

function header (entry: TarEntry, size: number): Uint8Array {
  const block = Buffer.alloc(BLOCK)
  const name = entry.directory === true && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long: ${name}`)
  block.write(name, 0, 'utf8')
  octal(block, 100, 8, entry.mode ?? (entry.directory === true ? 0o755 : 0o644))
  octal(block, 108, 8, 0) // uid
  octal(block, 116, 8, 0) // gid
  octal(block, 124, 12, size)
  octal(block, 136, 12, 0) // mtime
  block.fill(' ', 148, 156) // checksum is computed with its own field as spaces
  block.write(entry.directory === true ? '5' : '0', 156)
  block.write('ustar\u000000', 257, 'binary')
  block.write('root', 265)
  block.write('root', 297)
  let sum = 0
  for (const byte of block) sum += byte
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'binary')
  return block
}

function octal (block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, 'binary')
}
