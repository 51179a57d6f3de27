import { describe, expect, it } from 'vitest'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseSwarmKey } from '@distromash/p2pcomm'
import { runCli, freePort } from '../../../test/helpers/node-process.js'

describe('distromash CLI', () => {
  it('writes a Kubo-format swarm key', async () => {
    const { code, stdout } = await runCli(['swarm-key'])
    expect(code).toBe(0)
    expect(() => parseSwarmKey(stdout)).not.toThrow()
  })

  it('exits 2 with one line naming the setting on invalid config', async () => {
    const { code, stderr } = await runCli(['node', '--api-port', 'not-a-port'])
    expect(code).toBe(2)
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(stderr).toMatch(/^distromash: invalid setting --api-port/)
  })

  it('refuses to start without a swarm key when the private network is forced', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-cli-'))
    const args = ['node', '--data-dir', dir, '--api-port', String(await freePort()), '--swarm-port', '0', '--peerstore', join(dir, 'none')]
    const flag = await runCli([...args, '--force-pnet'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toMatch(/private network is forced/)
    const env = await runCli(args, { env: { LIBP2P_FORCE_PNET: '1' } })
    expect(env.code).toBe(2)
  })

  it('exits 2 with one line for a malformed swarm key file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-cli-'))
    await writeFile(join(dir, 'bad.key'), '/key/swarm/psk/1.0.0/\n/base16/\nabc\n')
    const { code, stderr } = await runCli(['node', '--data-dir', dir, '--swarm-key', join(dir, 'bad.key'), '--swarm-port', '0', '--api-port', String(await freePort())])
    expect(code).toBe(2)
    expect(stderr.trim()).toMatch(/^distromash: .*bad\.key: swarm key: key must be 64 hex characters, got 3$/)
  })

  it('refuses an API off loopback without a token, and a writers file it cannot read, with exit 2 and one line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-cli-'))
    const open = await runCli(['node', '--data-dir', dir, '--api-host', '0.0.0.0', '--swarm-port', '0', '--api-port', String(await freePort())])
    expect(open.code).toBe(2)
    expect(open.stderr.trim().split('\n')).toHaveLength(1)
    expect(open.stderr).toMatch(/^distromash: invalid setting --api-host.*0\.0\.0\.0 is not a loopback address: set an API token/)
    const missing = await runCli(['node', '--data-dir', dir, '--writers', join(dir, 'nope'), '--swarm-port', '0', '--api-port', String(await freePort()), '--peerstore', join(dir, 'none')])
    expect(missing.code).toBe(2)
    expect(missing.stderr.trim()).toMatch(/^distromash: cannot read the writers file .*nope: ENOENT$/)
  })

  it('exits 2 on an unknown command', async () => {
    const { code, stderr } = await runCli(['frobnicate'])
    expect(code).toBe(2)
    expect(stderr).toMatch(/unknown command "frobnicate"/)
  })
})
