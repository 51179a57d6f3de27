import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { acquireLock, cleanupStale, destroyPrefix, MARKER, releaseLock } from './lan-cleanup.js'
import { sh, type ExecResult } from './sh.js'

export { cleanupStale } from './lan-cleanup.js'
export { sh } from './sh.js'

/**
 * A virtual LAN on this machine: one bridge in the root namespace holding 198.18.0.1/24 (RFC 2544
 * benchmarking range) and one network namespace per host, joined to it by a veth pair, addressed
 * 198.18.0.11, .12, … Nothing routes out: namespaces get no default route and we never touch
 * forwarding or NAT, so every packet stays between these namespaces and the bridge.
 *
 * Everything a run creates is named `dm<4 hex>-…` (interfaces ≤ 15 chars) and its files live in
 * /tmp/dm<4 hex>, so destroy() and cleanupStale() (lan-cleanup.ts) find all of it. Measurements
 * inside the LAN are in net-probes.ts.
 */

export const SUBNET = '198.18.0'
export const BRIDGE_IP = `${SUBNET}.1`
const FIRST_HOST_OCTET = 11

export interface LanHost {
  /** Short label, e.g. "h1" or "seed" */
  label: string
  /** Network namespace name (`ip netns`) */
  name: string
  ip: string
  /** Root-namespace end of the veth pair, enslaved to the bridge */
  veth: string
  /** Spawn a process inside the namespace */
  exec: (cmd: string, args: string[], opts?: SpawnOptions) => ChildProcess
  /** Run a command inside the namespace to completion; rejects with its stderr on failure */
  run: (cmd: string, args: string[]) => Promise<ExecResult>
  /** Shape this host's link symmetrically to rateMbit (undefined: unshaped) */
  shape: (rateMbit?: number) => Promise<void>
}

export interface Lan {
  prefix: string
  bridge: string
  /** Scratch directory of this run (/tmp/<prefix>); removed by destroy() */
  dir: string
  hosts: LanHost[]
  destroy: () => Promise<void>
}

export interface LanOptions {
  /** A host count (labels h1…hN) or explicit labels (≤ 8 chars each) */
  hosts: number | string[]
  rateMbit?: number
  /** How long to wait for another run's LAN to go away before failing */
  lockTimeoutMs?: number
}

/** Fail loudly, never skip: the multi-host tests are meaningless without these. */
export function requireSystem (): void {
  if (process.getuid?.() !== 0) throw new Error('multi-host tests need root (network namespaces, tc, dockerd)')
  for (const bin of ['/usr/sbin/ip', '/usr/sbin/tc', '/usr/bin/nsenter']) {
    if (!existsSync(bin) && !existsSync(bin.replace('/usr', ''))) throw new Error(`${bin} is missing: run .ci/run (iproute2, util-linux)`)
  }
}

export async function createLan (options: LanOptions): Promise<Lan> {
  requireSystem()
  const labels = typeof options.hosts === 'number' ? Array.from({ length: options.hosts }, (_, i) => `h${i + 1}`) : options.hosts
  if (labels.length > 200 || labels.some(l => !/^[a-z0-9]{1,8}$/.test(l))) throw new Error(`bad host labels: ${labels.join()}`)
  const prefix = `dm${randomBytes(2).toString('hex')}`
  await acquireLock(prefix, options.lockTimeoutMs ?? 300_000)
  await cleanupStale()
  const lan: Lan = { prefix, bridge: `${prefix}-br`, dir: join('/tmp', prefix), hosts: [], destroy: async () => { await destroyPrefix(prefix); await releaseLock(prefix) } }
  try {
    await assertSubnetFree()
    await mkdir(lan.dir, { recursive: true })
    await writeFile(join(lan.dir, MARKER), `${process.pid}\n`)
    await addBridge(lan.bridge)
    for (const [i, label] of labels.entries()) lan.hosts.push(await addHost(lan, label, `${SUBNET}.${FIRST_HOST_OCTET + i}`))
    if (options.rateMbit != null) await Promise.all(lan.hosts.map(async h => h.shape(options.rateMbit)))
    return lan
  } catch (err) {
    await lan.destroy()
    throw err
  }
}

/** Something else holding an address of our subnet would make routing ambiguous: refuse. */
async function assertSubnetFree (): Promise<void> {
  const { stdout } = await sh('ip', ['-o', '-4', 'addr', 'show'])
  const clash = stdout.split('\n').find(l => l.includes(` ${SUBNET}.`))
  if (clash != null) throw new Error(`198.18.0.0/24 is already in use on this machine: ${clash.trim()}`)
}

async function addBridge (bridge: string): Promise<void> {
  await sh('ip', ['link', 'add', bridge, 'type', 'bridge'])
  await sh('ip', ['addr', 'add', `${BRIDGE_IP}/24`, 'dev', bridge])
  await sh('ip', ['link', 'set', bridge, 'up'])
}

async function addHost (lan: Lan, label: string, ip: string): Promise<LanHost> {
  const name = `${lan.prefix}-${label}`
  const veth = name
  await sh('ip', ['netns', 'add', name])
  // Create the pair with its far end directly inside the namespace, so it never exists in the
  // root namespace under a generic name.
  await sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name])
  await sh('ip', ['link', 'set', veth, 'master', lan.bridge, 'up'])
  await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
  await sh('ip', ['-n', name, 'addr', 'add', `${ip}/24`, 'dev', 'eth0'])
  await sh('ip', ['-n', name, 'link', 'set', 'eth0', 'up'])
  return lanHost(label, name, ip, veth)
}

/**
 * Processes enter only the network namespace (nsenter --net), not `ip netns exec`: the latter
 * also unshares the mount namespace and remounts /sys, which hides this machine's cgroup v1
 * mounts, and dockerd then refuses to start ("Devices cgroup isn't mounted").
 */
export function nsArgs (ns: string, cmd: string, args: string[]): string[] {
  return [`--net=/run/netns/${ns}`, '--', cmd, ...args]
}

function lanHost (label: string, name: string, ip: string, veth: string): LanHost {
  return {
    label,
    name,
    ip,
    veth,
    exec: (cmd, args, opts = {}) => spawn('nsenter', nsArgs(name, cmd, args), { stdio: ['ignore', 'pipe', 'pipe'], ...opts }),
    run: async (cmd, args) => sh('nsenter', nsArgs(name, cmd, args)),
    shape: async rateMbit => {
      // Egress of the namespace end limits the host's upload; egress of the bridge end limits
      // its download: together a symmetric link of rateMbit, like one switch port.
      await setRate(['tc', '-n', name], 'eth0', rateMbit)
      await setRate(['tc'], veth, rateMbit)
    }
  }
}

async function setRate (tc: string[], dev: string, rateMbit?: number): Promise<void> {
  const [cmd, ...pre] = tc as [string, ...string[]]
  await sh(cmd, [...pre, 'qdisc', 'del', 'dev', dev, 'root']).catch(() => { /* none yet */ })
  if (rateMbit == null) return
  // tbf needs a bucket of at least rate/HZ; 64 KiB also holds a whole GSO super-packet.
  const burst = Math.max(64 * 1024, Math.ceil(rateMbit * 1e6 / 8 / 100))
  await sh(cmd, [...pre, 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', `${rateMbit}mbit`, 'burst', String(burst), 'latency', '50ms'])
}
