import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { PeerKeyError } from './errors.js'

/**
 * The node's identity: an Ed25519 key made on first start and kept in the data dir
 * (libp2p protobuf encoding, mode 0600), so the peer ID survives restarts.
 */
export async function loadOrCreatePeerKey (path: string): Promise<PrivateKey> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    return createPeerKey(path)
  }
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new PeerKeyError(`${path}: not a libp2p private key (${(err as Error).message})`)
  }
}

async function createPeerKey (path: string): Promise<PrivateKey> {
  const key = await generateKeyPair('Ed25519')
  await mkdir(dirname(path), { recursive: true })
  // 'wx' so two processes racing on one data dir never overwrite each other's key
  await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  await chmod(path, 0o600)
  return key
}
