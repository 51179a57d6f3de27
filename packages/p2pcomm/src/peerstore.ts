import { readFile } from 'node:fs/promises'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { PeerstoreError } from './errors.js'

/**
 * `data/peerstore`: one bootstrap multiaddr per line, each ending in /p2p/<peer id>.
 * `#` starts a comment; blank lines are ignored. A bad line is reported and skipped
 * so one typo never keeps a node from joining the mesh through the other entries.
 */
export interface ParsedPeerstore {
  addrs: Multiaddr[]
  errors: PeerstoreError[]
}

export function parsePeerstore (text: string): ParsedPeerstore {
  const addrs: Multiaddr[] = []
  const errors: PeerstoreError[] = []
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim()
    if (line === '') return
    try {
      addrs.push(parsePeerstoreLine(line))
    } catch (err) {
      errors.push(new PeerstoreError(`line ${index + 1}: ${(err as Error).message}`, index + 1))
    }
  })
  return { addrs, errors }
}

function parsePeerstoreLine (line: string): Multiaddr {
  let addr: Multiaddr
  try {
    addr = multiaddr(line)
  } catch {
    throw new Error(`not a multiaddr: "${line}"`)
  }
  const peerId = addr.getComponents().find(c => c.name === 'p2p')?.value
  if (peerId == null) throw new Error(`missing /p2p/<peer id>: "${line}"`)
  try {
    peerIdFromString(peerId)
  } catch {
    throw new Error(`invalid peer id "${peerId}"`)
  }
  return addr
}

/** A missing peerstore is normal for the first node of a mesh: no bootstrap peers. */
export async function loadPeerstore (path: string): Promise<ParsedPeerstore> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { addrs: [], errors: [] }
    throw err
  }
  return parsePeerstore(text)
}
