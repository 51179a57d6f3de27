import { describe, expect, it } from 'vitest'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config.js'

const cwd = tmpdir()

describe('config', () => {
  it('has safe defaults: API on loopback :3000, swarm on all interfaces :4001', () => {
    const c = loadConfig([], {}, cwd)
    expect(c).toMatchObject({ dataDir: './data/node', apiHost: '127.0.0.1', apiPort: 3000, registryHost: '127.0.0.1', registryPort: 5005, peerstore: 'data/peerstore', forcePnet: false })
    expect(c.listen).toEqual(['/ip4/0.0.0.0/tcp/4001'])
    expect(c.swarmKeyPath).toBeUndefined()
  })

  it('lets flags win over the environment, and the environment over .env', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-cfg-'))
    await writeFile(join(dir, '.env'), 'DISTROMASH_API_PORT=3100\nDISTROMASH_DATA_DIR=/from/dotenv\nDISTROMASH_LOG_LEVEL=debug\n')
    const c = loadConfig(['--api-port', '3300'], { DISTROMASH_API_PORT: '3200', DISTROMASH_DATA_DIR: '/from/env' }, dir)
    expect(c.apiPort).toBe(3300)
    expect(c.dataDir).toBe('/from/env')
    expect(c.logLevel).toBe('debug')
  })

  it('uses <data-dir>/swarm.key when present, and --swarm-key otherwise', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-cfg-'))
    await writeFile(join(dir, 'swarm.key'), 'x')
    expect(loadConfig(['--data-dir', dir], {}, cwd).swarmKeyPath).toBe(join(dir, 'swarm.key'))
    expect(loadConfig(['--data-dir', dir, '--swarm-key', '/k'], {}, cwd).swarmKeyPath).toBe('/k')
  })

  it('honours --force-pnet, DISTROMASH_FORCE_PNET and LIBP2P_FORCE_PNET=1', () => {
    expect(loadConfig(['--force-pnet'], {}, cwd).forcePnet).toBe(true)
    expect(loadConfig([], { DISTROMASH_FORCE_PNET: 'true' }, cwd).forcePnet).toBe(true)
    expect(loadConfig([], { LIBP2P_FORCE_PNET: '1' }, cwd).forcePnet).toBe(true)
    expect(loadConfig([], { DISTROMASH_FORCE_PNET: '0' }, cwd).forcePnet).toBe(false)
  })

  it('takes a Kubo RPC URL from --ipfs-api, DISTROMASH_IPFS_API or .env, and refuses anything else with one line', async () => {
    expect(loadConfig([], {}, cwd).ipfsApi).toBeUndefined()
    expect(loadConfig(['--ipfs-api', 'http://127.0.0.1:5001'], {}, cwd).ipfsApi).toBe('http://127.0.0.1:5001')
    expect(loadConfig([], { DISTROMASH_IPFS_API: 'http://10.0.0.2:5001/api/v0/' }, cwd).ipfsApi).toBe('http://10.0.0.2:5001')
    const dir = await mkdtemp(join(tmpdir(), 'dm-cfg-'))
    await writeFile(join(dir, '.env'), 'DISTROMASH_IPFS_API=https://kubo.local:5001/\n')
    expect(loadConfig([], {}, dir).ipfsApi).toBe('https://kubo.local:5001')
    for (const bad of ['127.0.0.1:5001', 'ftp://127.0.0.1:5001', 'http://127.0.0.1:5001/somewhere', 'http://127.0.0.1:5001/?x=1', '/ip4/127.0.0.1/tcp/5001']) {
      expect(() => loadConfig(['--ipfs-api', bad], {}, cwd)).toThrow(/^invalid setting --ipfs-api \(DISTROMASH_IPFS_API\): /)
    }
  })

  it('takes swarm listen multiaddrs or a port', () => {
    expect(loadConfig(['--swarm-port', '4100'], {}, cwd).listen).toEqual(['/ip4/0.0.0.0/tcp/4100'])
    expect(loadConfig(['--swarm-listen', '/ip4/127.0.0.1/tcp/1, /ip4/10.0.0.1/tcp/2'], {}, cwd).listen).toEqual(['/ip4/127.0.0.1/tcp/1', '/ip4/10.0.0.1/tcp/2'])
  })

  it('reads the API token from a file, takes a writers file, and needs a token off loopback', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-cfg-'))
    await writeFile(join(dir, 'token'), 'a-token-from-a-file-0123\n')
    expect(loadConfig(['--api-token-file', join(dir, 'token')], {}, cwd).apiToken).toBe('a-token-from-a-file-0123')
    expect(loadConfig(['--api-host', '10.0.0.5', '--api-token-file', join(dir, 'token')], {}, cwd).apiHost).toBe('10.0.0.5')
    expect(() => loadConfig(['--api-host', '10.0.0.5'], {}, cwd)).toThrow(/--api-host.*not a loopback address/)
    expect(loadConfig(['--api-host', 'localhost'], {}, cwd).apiHost).toBe('localhost')
    expect(loadConfig(['--api-host', '::1'], {}, cwd).apiHost).toBe('::1')
    await writeFile(join(dir, 'short'), 'short\n')
    expect(() => loadConfig(['--api-token-file', join(dir, 'short')], {}, cwd)).toThrow(/--api-token-file.*16 characters/)
    expect(() => loadConfig(['--api-token-file', join(dir, 'none')], {}, cwd)).toThrow(/--api-token-file.*ENOENT/)
    expect(loadConfig([], { DISTROMASH_WRITERS: '/etc/w' }, cwd).writersPath).toBe('/etc/w')
    expect(loadConfig(['--data-dir', dir], {}, cwd).writersPath).toBeUndefined()
    await writeFile(join(dir, 'writers'), '')
    expect(loadConfig(['--data-dir', dir], {}, cwd).writersPath).toBe(join(dir, 'writers'))
  })

  it('names the setting at fault', () => {
    expect(() => loadConfig(['--api-port', 'abc'], {}, cwd)).toThrow(/invalid setting --api-port \(DISTROMASH_API_PORT\)/)
    expect(() => loadConfig([], { DISTROMASH_API_PORT: '70000' }, cwd)).toThrow(/--api-port/)
    expect(() => loadConfig(['--docker-host', '/var/run/docker.sock'], {}, cwd)).toThrow(/--docker-host.*unix:\/\//)
    expect(() => loadConfig(['--upstream', 'ftp://x'], {}, cwd)).toThrow(/--upstream/)
    expect(() => loadConfig(['--api-token', 'short'], {}, cwd)).toThrow(/--api-token.*16/)
    expect(() => loadConfig(['--log-level', 'loud'], {}, cwd)).toThrow(/--log-level/)
    expect(() => loadConfig(['--bogus'], {}, cwd)).toThrow(/invalid setting flags: Unknown option '--bogus'/)
  })
})
