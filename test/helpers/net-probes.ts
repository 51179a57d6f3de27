import type { ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import type { LanHost } from './netns.js'

/** Measurements and reachability checks run inside namespaces by net-probe.mjs */

const PROBE = resolve(import.meta.dirname, 'net-probe.mjs')

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

/**
 * Relay TCP from listen (inside `on`) to target, e.g. 127.0.0.1:5000 → 198.18.0.15:5000: lets a
 * node reach a LAN registry through a loopback URL (nodes refuse plain HTTP to other hosts).
 */
export async function startForwarder (on: LanHost, listenHost: string, listenPort: number, target: string): Promise<ChildProcess> {
  const child = on.exec('node', [PROBE, 'forward', listenHost, String(listenPort), target])
  await untilOutput(child, 'ready')
  return child
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
