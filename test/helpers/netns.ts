import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

/**
 * A virtual LAN on this machine: one bridge in the root namespace holding 198.18.0.1/24 (RFC 2544
 * benchmarking range) and one network namespace per host, joined to it by a veth pair, addressed
 * 198.18.0.11, .12, … Nothing routes out: namespaces get no default route and we never touch
 * forwarding or NAT, so every packet stays between these namespaces and the bridge.
 *
 * Everything a run creates is named `dm<4 hex>-…` (interfaces ≤ 15 chars) and its files live in
 * /tmp/dm<4 hex>, so destroy() and cleanupStale() can find all of it.
 */

const execFileP = promisify(execFile)
export const SUBNET = '198.18.0'
export const BRIDGE_IP = `${SUBNET}.1`
const FIRST_HOST_OCTET = 11
const PREFIX_RE = /^(dm[0-9a-f]{4})(-|$)/
/** One LAN at a time: they would all want 198.18.0.1/24. Holds "<pid> <prefix>". */
const LOCK = '/tmp/dm-lan.lock'
const PROBE = resolve(import.meta.dirname, 'net-probe.mjs')

export interface ExecResult { stdout: string, stderr: string }

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

/** Run a command in the root namespace; rejects with its stderr */
export async function sh (cmd: string, args: string[]): Promise<ExecResult> {
  try {
    return await execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024 })
  } catch (err) {
    const e = err as Error & { stderr?: string }
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() ?? e.message}`)
  }
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

/** Remove everything named with `prefix`: processes in its namespaces, mounts, links, namespaces, files. */
async function destroyPrefix (prefix: string): Promise<void> {
  const namespaces = (await listNetns()).filter(n => n.startsWith(`${prefix}-`))
  await killPids(await pidsOf(prefix, namespaces))
  await unmountUnder(join('/tmp', prefix))
  // Deleting the root end of a veth deletes its pair and both qdiscs.
  for (const link of await listLinks()) if (link.startsWith(`${prefix}-`)) await sh('ip', ['link', 'del', link]).catch(() => {})
  for (const ns of namespaces) await sh('ip', ['netns', 'del', ns]).catch(() => {})
  await rm(join('/tmp', prefix), { recursive: true, force: true }).catch(() => {})
}

/**
 * Remove leftovers of crashed runs (any `dm<4 hex>` namespace, link or /tmp dir) unless they
 * belong to the live run holding the LAN lock. Returns the prefixes removed.
 */
export async function cleanupStale (): Promise<string[]> {
  const live = await lockHolder()
  const found = new Set<string>()
  for (const name of [...await listNetns(), ...await listLinks(), ...await readdir('/tmp')]) {
    const prefix = PREFIX_RE.exec(name)?.[1]
    if (prefix != null) found.add(prefix)
  }
  const keep = live?.alive === true ? live.prefix : undefined
  const stale = [...found].filter(p => p !== keep)
  for (const prefix of stale) await destroyPrefix(prefix)
  return stale
}

async function listNetns (): Promise<string[]> {
  const { stdout } = await sh('ip', ['netns', 'list'])
  return stdout.split('\n').map(l => l.split(' ')[0] ?? '').filter(n => n !== '')
}

async function listLinks (): Promise<string[]> {
  const { stdout } = await sh('ip', ['-o', 'link', 'show'])
  return stdout.split('\n').map(l => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '').filter(n => n !== '')
}

/** Processes inside the namespaces, plus any whose command line names the run's directory (container shims) */
async function pidsOf (prefix: string, namespaces: string[]): Promise<number[]> {
  const pids = new Set<number>()
  for (const ns of namespaces) {
    const { stdout } = await sh('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }))
    for (const p of stdout.split('\n')) if (p.trim() !== '') pids.add(Number(p))
  }
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    if (cmdline.includes(`/tmp/${prefix}/`)) pids.add(Number(entry))
  }
  pids.delete(process.pid)
  return [...pids]
}

/** SIGTERM first so dockerd can stop its containers and unmount; SIGKILL what is left after 10 s. */
async function killPids (pids: number[]): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals): boolean => { try { process.kill(pid, sig); return true } catch { return false } }
  const alive = pids.filter(pid => signal(pid, 'SIGTERM'))
  const deadline = Date.now() + 10_000
  while (alive.some(pid => signal(pid, 0)) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
  for (const pid of alive) signal(pid, 'SIGKILL')
}

/** dockerd runs in the root mount namespace: lazily unmount whatever a killed one left under dir */
async function unmountUnder (dir: string): Promise<void> {
  const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').map(l => l.split(' ')[1] ?? '')
  for (const point of mounts.filter(m => m.startsWith(`${dir}/`)).reverse()) await sh('umount', ['-l', point]).catch(() => {})
}

async function lockHolder (): Promise<{ pid: number, prefix: string, alive: boolean } | undefined> {
  const text = await readFile(LOCK, 'utf8').catch(() => undefined)
  if (text == null) return undefined
  const [pid, prefix] = text.trim().split(' ')
  let alive = true
  try { process.kill(Number(pid), 0) } catch { alive = false }
  return { pid: Number(pid), prefix: prefix ?? '', alive }
}

async function acquireLock (prefix: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await writeFile(LOCK, `${process.pid} ${prefix}\n`, { flag: 'wx' })
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const holder = await lockHolder()
    if (holder != null && !holder.alive) await unlink(LOCK).catch(() => {})
    else if (Date.now() > deadline) throw new Error(`another virtual LAN is active (${JSON.stringify(holder)}); only one may use 198.18.0.0/24`)
    else await new Promise(resolve => setTimeout(resolve, 1000))
  }
}

async function releaseLock (prefix: string): Promise<void> {
  const holder = await lockHolder()
  if (holder?.prefix === prefix) await unlink(LOCK).catch(() => {})
}

/**
 * Send `megabytes` over TCP from one host to another and return the receiver's goodput in
 * Mbit/s (payload only, so ~4% under the link rate for TCP/IP headers).
 */
export async function measureThroughput (from: LanHost, to: LanHost, megabytes = 20, port = 5201): Promise<number> {
  const receiver = to.exec('node', [PROBE, 'recv', to.ip, String(port)])
  const result = collect(receiver)
  await untilOutput(receiver, 'ready')
  await from.run('node', [PROBE, 'send', to.ip, String(port), String(megabytes)])
  const out = JSON.parse((await result).trim().split('\n').pop() ?? '{}') as { mbit?: number }
  if (out.mbit == null) throw new Error('throughput probe printed no result')
  return out.mbit
}

/** Try a TCP connect from inside a host: 'connected' or the error code (ECONNREFUSED, …) */
export async function probeConnect (from: LanHost, host: string, port: number): Promise<string> {
  const { stdout } = await from.run('node', [PROBE, 'connect', host, String(port)])
  return stdout.trim()
}

/** GET a URL from inside a host: the HTTP status, or the connect error code */
export async function probeHttp (from: LanHost, url: string): Promise<string> {
  const { stdout } = await from.run('node', [PROBE, 'get', url])
  return stdout.trim()
}

function collect (child: ChildProcess): Promise<string> {
  let out = ''
  let err = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  return new Promise((resolve, reject) => child.once('exit', code => { code === 0 ? resolve(out) : reject(new Error(`probe exited ${code}: ${err}`)) }))
}

async function untilOutput (child: ChildProcess, marker: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); if (out.includes(marker)) resolve() })
    child.once('exit', code => { reject(new Error(`probe exited ${code} before "${marker}"`)) })
  })
}
