import { describe, expect, it } from 'vitest'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadPeerstore, parsePeerstore } from '../src/peerstore.js'

const ID = '12D3KooWGRUVh2upbQkd1ghAZwDnRoVSiXEPzFyFzUNdrrJ3Xmrw'

describe('peerstore', () => {
  it('parses multiaddrs, comments and blank lines', () => {
    const { addrs, errors } = parsePeerstore(`# seed\n\n/ip4/10.0.0.5/tcp/4001/p2p/${ID}\n  /dns4/seed.example/tcp/4001/p2p/${ID}  # trailing\r\n`)
    expect(errors).toEqual([])
    expect(addrs.map(a => a.toString())).toEqual([`/ip4/10.0.0.5/tcp/4001/p2p/${ID}`, `/dns4/seed.example/tcp/4001/p2p/${ID}`])
  })

  it('reports bad lines with their line number and keeps the good ones', () => {
    const { addrs, errors } = parsePeerstore(`not-a-multiaddr\n/ip4/10.0.0.5/tcp/4001\n/ip4/10.0.0.6/tcp/4001/p2p/${ID}\n/ip4/1.2.3.4/tcp/1/p2p/notapeerid`)
    expect(addrs).toHaveLength(1)
    expect(errors.map(e => e.line)).toEqual([1, 2, 4])
    expect(errors[0]?.message).toMatch(/line 1: not a multiaddr/)
    expect(errors[1]?.message).toMatch(/line 2: missing \/p2p/)
    expect(errors[2]?.message).toMatch(/line 4: /)
  })

  it('treats a missing file as no bootstrap peers', async () => {
    expect(await loadPeerstore('/nonexistent/peerstore')).toEqual({ addrs: [], errors: [] })
  })

  it('loads a file from disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-ps-'))
    await writeFile(join(dir, 'peerstore'), `/ip4/127.0.0.1/tcp/4001/p2p/${ID}\n`)
    const { addrs } = await loadPeerstore(join(dir, 'peerstore'))
    expect(addrs).toHaveLength(1)
  })
})
