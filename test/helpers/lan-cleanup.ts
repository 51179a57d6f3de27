import { existsSync } from 'node:fs'
import { readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { sh } from './sh.js'

/**
 * Teardown of virtual LANs (netns.ts), also of runs that crashed: everything a run creates is
 * named `dm<4 hex>-…` (namespaces, links) or lives in /tmp/dm<4 hex> (files, dockerd mounts).
 */

const PREFIX_RE = /^(dm[0-9a-f]{4})(-|$)/
/** One LAN at a time: they would all want 198.18.0.1/24. Holds "<pid> <prefix>". */
const LOCK = '/tmp/dm-lan.lock'
/** Written first into a run's directory: only directories carrying it are ours to remove */
export const MARKER = '.distromash-lan'

/** Remove everything named with `prefix`: processes in its namespaces, mounts, links, namespaces, files. */
export async function destroyPrefix (prefix: string): Promise<void> {
  const namespaces = (await listNetns()).filter(n => n.startsWith(`${prefix}-`))
  await killPids(await pidsOf(prefix, namespaces))
  await unmountUnder(join('/tmp', prefix))
  // Deleting the root end of a veth deletes its pair and both qdiscs.
  for (const link of await listLinks()) if (link.startsWith(`${prefix}-`)) await sh('ip', ['link', 'del', link]).catch(() => {})
  for (const ns of namespaces) await sh('ip', ['netns', 'del', ns]).catch(() => {})
  if (existsSync(join('/tmp', prefix, MARKER))) await rm(join('/tmp', prefix), { recursive: true, force: true }).catch(() => {})
}

/**
 * Remove leftovers of crashed runs (any `dm<4 hex>` namespace or link, or /tmp dir carrying our
 * marker) unless they belong to the live run holding the LAN lock. Returns the prefixes removed.
 */
export async function cleanupStale (): Promise<string[]> {
  const live = await lockHolder()
  const found = new Set<string>()
  const dirs = (await readdir('/tmp')).filter(d => existsSync(join('/tmp', d, MARKER)))
  for (const name of [...await listNetns(), ...await listLinks(), ...dirs]) {
    const prefix = PREFIX_RE.exec(name)?.[1]
    if (prefix != null) found.add(prefix)
  }
  const keep = live?.alive === true ? live.prefix : undefined
  const stale = [...found].filter(p => p !== keep)
  for (const prefix of stale) await destroyPrefix(prefix)
  if (live != null && !live.alive) await unlink(LOCK).catch(() => {})
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
  const signal = (pid: number, sig: NodeJS.Signals | 0): boolean => { try { process.kill(pid, sig); return true } catch { return false } }
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

export async function acquireLock (prefix: string, timeoutMs: number): Promise<void> {
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

export async function releaseLock (prefix: string): Promise<void> {
  const holder = await lockHolder()
  if (holder?.prefix === prefix) await unlink(LOCK).catch(() => {})
}
