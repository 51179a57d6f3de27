import { describe, expect, it } from 'vitest'
import { mkdtemp, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreatePeerKey } from '../src/peer-key.js'

describe('peer key', () => {
  it('is created once, private, and gives the same peer ID on reload', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'dm-key-')), 'peer.key')
    const first = peerIdFromPrivateKey(await loadOrCreatePeerKey(path))
    const again = peerIdFromPrivateKey(await loadOrCreatePeerKey(path))
    expect(again.toString()).toBe(first.toString())
    expect(first.type).toBe('Ed25519')
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })

  it('refuses a file that is not a key', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'dm-key-')), 'peer.key')
    await writeFile(path, 'garbage')
    await expect(loadOrCreatePeerKey(path)).rejects.toThrow(/not a libp2p private key/)
  })
})
