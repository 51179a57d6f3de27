import { readFile } from 'node:fs/promises'
import { peerIdFromString } from '@libp2p/peer-id'

/**
 * The writers file: one peer ID per line, `#` starts a comment, blank lines ignored. Only
 * Ed25519 peer IDs can sign records, so other IDs are reported like malformed lines.
 */
export interface WritersFile {
  writers: Set<string>
  /** Lines skipped, with their numbers */
  errors: Array<{ line: number, message: string }>
}

export function parseWriters (text: string): WritersFile {
  const writers = new Set<string>()
  const errors: WritersFile['errors'] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim()
    if (line === '') return
    try {
      const id = peerIdFromString(line)
      if (id.type !== 'Ed25519') throw new Error(`a ${id.type} peer ID cannot sign records`)
      writers.add(id.toString())
    } catch (err) {
      errors.push({ line: i + 1, message: `not an Ed25519 peer ID: "${line.slice(0, 80)}" (${(err as Error).message.split('\n')[0] ?? ''})` })
    }
  })
  return { writers, errors }
}

export async function loadWriters (path: string): Promise<WritersFile> {
  return parseWriters(await readFile(path, 'utf8'))
}
