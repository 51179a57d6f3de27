import { createHash, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { SwarmKeyError } from './errors.js'

/**
 * Kubo's private-network key file (go-libp2p-pnet v1):
 *   /key/swarm/psk/1.0.0/
 *   /base16/
 *   <64 hex characters = 32 bytes>
 */
const HEADER = '/key/swarm/psk/1.0.0/'
const CODEC = '/base16/'
const KEY_BYTES = 32

export interface SwarmKey {
  /** The canonical file bytes, as @libp2p/pnet expects them */
  readonly file: Uint8Array
  /** Short, non-secret fingerprint for logs */
  readonly fingerprint: string
}

export function parseSwarmKey (text: string): SwarmKey {
  const lines = text.split(/\r?\n/).map(l => l.trim())
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  if (lines[0] !== HEADER) throw new SwarmKeyError(`swarm key: first line must be ${HEADER}`)
  if (lines[1] !== CODEC) throw new SwarmKeyError(`swarm key: second line must be ${CODEC} (only base16 keys are supported)`)
  const hex = lines[2] ?? ''
  if (!/^[0-9a-fA-F]*$/.test(hex)) throw new SwarmKeyError('swarm key: third line must be hexadecimal')
  if (hex.length !== KEY_BYTES * 2) throw new SwarmKeyError(`swarm key: key must be ${KEY_BYTES * 2} hex characters, got ${hex.length}`)
  if (lines.length > 3) throw new SwarmKeyError('swarm key: unexpected content after the key')
  return toSwarmKey(hex.toLowerCase())
}

export function generateSwarmKey (): string {
  return formatSwarmKey(randomBytes(KEY_BYTES).toString('hex'))
}

export async function loadSwarmKey (path: string): Promise<SwarmKey> {
  const text = await readFile(path, 'utf8')
  try {
    return parseSwarmKey(text)
  } catch (err) {
    throw new SwarmKeyError(`${path}: ${(err as Error).message}`)
  }
}

function formatSwarmKey (hex: string): string {
  return `${HEADER}\n${CODEC}\n${hex}\n`
}

function toSwarmKey (hex: string): SwarmKey {
  // a hash, never key bytes: the fingerprint is printed at start-up
  const fingerprint = createHash('sha256').update(hex).digest('hex').slice(0, 8)
  return { file: new TextEncoder().encode(formatSwarmKey(hex)), fingerprint: `psk:${fingerprint}` }
}
