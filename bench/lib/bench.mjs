// Shared parts of bench/registry.mjs and bench/import.mjs: temp dirs, a cleanup stack that also
// runs on SIGINT/SIGTERM and uncaught errors, Debian's docker-registry, a private dockerd, DistroMash
// node processes, an image of random layers pushed through the registry HTTP API, and statistics.
// Plain ESM, no build step (the node itself must be built: `npx tsc -b`).
import { execFile, spawn } from 'node:child_process'
import { createHash, randomFillSync } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
export const BIN = resolve(import.meta.dirname, '../../bin/distromash')
export const MiB = 1024 * 1024

// ---------------------------------------------------------------- cleanup

const cleanups = []
const children = new Set()
/** Registers `fn` to run (last registered first) at the end, on failure, Ctrl-C or SIGTERM. */
export function onCleanup (fn) { cleanups.push(fn) }

let cleaning
/**
 * Runs the registered cleanups once. A second call while they run (Ctrl-C handler and runBench's
 * finally both call it) waits for the same run: returning at once let runBench exit the process
 * half-way, leaving bench/scale's namespaces and node processes behind.
 */
export async function cleanup () {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop()
      try { await fn() } catch (err) { console.error(`cleanup: ${err.message}`) }
    }
  })().finally(() => { cleaning = undefined })
  return cleaning
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`)
    cleanup().finally(() => process.exit(130))
  })
}
for (const event of ['uncaughtException', 'unhandledRejection']) {
  process.once(event, err => {
    console.error(`${event}:`, err)
    cleanup().finally(() => process.exit(1))
  })
}
// last resort if the process dies without running the async cleanup: never leave children behind
process.on('exit', () => { for (const child of children) { try { child.kill('SIGKILL') } catch {} } })

/** Runs `main` with cleanup afterwards whatever happens; sets the exit code. */
export async function runBench (main) {
  try {
    process.exitCode = (await main()) ?? 0
  } catch (err) {
    console.error(err.stack ?? err)
    process.exitCode = 1
  } finally {
    await cleanup()
  }
  process.exit() // nothing of ours is left; do not wait on stray handles
}

export async function tempDir (prefix, base = tmpdir()) {
  const dir = await mkdtemp(join(base, prefix))
  onCleanup(async () => rm(dir, { recursive: true, force: true }))
  return dir
}

function track (child) {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

export async function stopChild (child, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

export async function freePort () {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) })
  })
}

export async function sh (cmd, args, options = {}) {
  const { stdout } = await run(cmd, args, { maxBuffer: 64 * MiB, ...options })
  return stdout.trim()
}

export function requireBinaries (...paths) {
  const missing = paths.filter(p => !existsSync(p))
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: run .ci/run (apt-get install docker-registry skopeo docker.io)`)
  if (!existsSync(resolve(import.meta.dirname, '../../packages/controller/dist/main.js'))) throw new Error('not built: run `npx tsc -b` (or make build)')
}

// ---------------------------------------------------------------- docker-registry

/** Debian's docker-registry on loopback with a filesystem store in a temp dir. */
export async function startDockerRegistry () {
  const root = await tempDir('dm-bench-registry-')
  const port = await freePort()
  const config = join(root, 'config.yml')
  await writeFile(config, ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:',
    `    rootdirectory: ${join(root, 'data')}`, 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'))
  const child = track(spawn('/usr/bin/docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] }))
  onCleanup(async () => stopChild(child))
  let log = ''
  child.stderr.on('data', d => { log = (log + d).slice(-4000) })
  const url = `http://127.0.0.1:${port}`
  for (let t = 0; ; t++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log}`)
    try { if ((await fetch(`${url}/v2/`)).status === 200) break } catch {}
    if (t > 300) throw new Error(`docker-registry did not start: ${log}`)
    await sleep(50)
  }
  return { url, host: `127.0.0.1:${port}`, pid: child.pid }
}

// ---------------------------------------------------------------- dockerd

/** A private dockerd (own data root, exec root, pid file, socket; no bridge, no iptables). */
export async function startDockerd () {
  const dir = await mkdtemp(join('/tmp', 'dmb-')) // short: unix socket paths are limited to 107 bytes
  const host = `unix://${join(dir, 'docker.sock')}`
  const args = ['--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'docker.pid'), '-H', host,
    '--bridge=none', '--iptables=false', '--ip6tables=false', '--storage-driver=overlay2']
  const child = track(spawn('dockerd', args, { stdio: ['ignore', 'pipe', 'pipe'] }))
  let log = ''
  const keep = d => { log = (log + d).slice(-4000) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  onCleanup(async () => {
    await stopChild(child, 20_000)
    await unmountUnder(dir)
    await rm(dir, { recursive: true, force: true })
  })
  const docker = async (...a) => sh('docker', ['-H', host, ...a])
  for (let t = 0; ; t++) {
    if (child.exitCode !== null) throw new Error(`dockerd exited: ${log}`)
    try { await docker('version', '--format', '{{.Server.Version}}'); break } catch {}
    if (t > 300) throw new Error(`dockerd did not start: ${log}`)
    await sleep(200)
  }
  return {
    host,
    pid: child.pid,
    docker,
    /** Removes every image and unused layer, so the next pull is cold. */
    async clean () {
      const ids = (await docker('images', '-aq')).split('\n').filter(Boolean)
      if (ids.length > 0) await docker('rmi', '-f', ...new Set(ids))
      await docker('image', 'prune', '-af')
    }
  }
}

/** Anything dockerd left mounted under `dir` (only after a hard kill). */
async function unmountUnder (dir) {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map(l => l.split(' ')[1]).filter(m => m?.startsWith(dir + '/'))
  for (const m of mounts.sort().reverse()) await sh('umount', ['-l', m]).catch(() => {})
}

// ---------------------------------------------------------------- Kubo

/**
 * A Kubo daemon (`ipfs` on PATH: scripts/install-kubo.sh) in a fresh repo (`--profile=test`:
 * loopback, random ports, no bootstrap), for sidecar runs: `--ipfs-api` of a node points at `api`.
 */
export async function startKubo ({ base, swarmKey } = {}) {
  const repo = await tempDir('dm-bench-kubo-', base)
  // with a swarm key: in that private network only (LIBP2P_FORCE_PNET makes Kubo refuse to start without it)
  const env = { ...process.env, IPFS_PATH: repo, ...(swarmKey != null ? { LIBP2P_FORCE_PNET: '1' } : {}) }
  await sh('ipfs', ['init', '--profile=test', '--empty-repo'], { env }).catch(err => { throw new Error(`Kubo (ipfs) is needed for --kubo (scripts/install-kubo.sh): ${err.message}`) })
  if (swarmKey != null) await copyFile(swarmKey, join(repo, 'swarm.key'))
  const child = track(spawn('ipfs', ['daemon'], { env, stdio: ['ignore', 'pipe', 'pipe'] }))
  let out = ''
  child.stdout.on('data', d => { out += d })
  child.stderr.on('data', d => { out += d })
  let stopped = false
  const stop = async () => { if (!stopped) { stopped = true; await stopChild(child) } }
  onCleanup(stop)
  for (let t = 0; !out.includes('Daemon is ready'); t++) {
    if (child.exitCode !== null) throw new Error(`ipfs daemon exited (${child.exitCode}): ${out}`)
    if (t > 1200) throw new Error(`ipfs daemon did not start: ${out}`)
    await sleep(50)
  }
  const api = /RPC API server listening on \/ip4\/([\d.]+)\/tcp\/(\d+)/.exec(out)
  const swarmPort = /Swarm listening on 127\.0\.0\.1:(\d+) \(TCP\)/.exec(out)?.[1]
  const swarm = swarmPort == null ? undefined : `/ip4/127.0.0.1/tcp/${swarmPort}/p2p/${await sh('ipfs', ['id', '-f', '<id>'], { env })}`
  return { api: `http://${api[1]}:${api[2]}`, pid: child.pid, repo, env, swarm, stop }
}

// ---------------------------------------------------------------- DistroMash node

/** One `bin/distromash node` process; `stop()` ends it (also registered for cleanup). */
export async function startNode ({ dataDir, upstream, logLevel = 'warn', env = {}, nodeFlags = [], args: extra = [], bin = BIN }) {
  const [api, swarm, registry] = [await freePort(), await freePort(), await freePort()]
  const args = ['node', '--data-dir', dataDir, '--api-port', String(api), '--swarm-listen', `/ip4/127.0.0.1/tcp/${swarm}`,
    '--registry-port', String(registry), '--peerstore', join(dataDir, 'no-peerstore'), '--log-level', logLevel,
    '--docker-host', 'unix:///nonexistent/docker.sock', ...(upstream != null ? ['--upstream', upstream] : []), ...extra]
  // extra V8/Node flags (e.g. --cpu-prof): run node ourselves with the launcher's shebang flags too
  const launcherFlags = /^#!.*\bnode\b(.*)$/m.exec(readFileSync(bin, 'utf8'))?.[1].trim().split(/\s+/).filter(Boolean) ?? []
  const [cmd, argv] = nodeFlags.length === 0 ? [bin, args] : [process.execPath, [...launcherFlags, ...nodeFlags, bin, ...args]]
  const child = track(spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }))
  let out = ''
  let err = ''
  child.stdout.on('data', d => { out += d })
  child.stderr.on('data', d => { err = (err + d).slice(-4000); if (logLevel !== 'warn') process.stderr.write(d) })
  let stopped = false
  const stop = async () => { if (!stopped) { stopped = true; await stopChild(child) } }
  onCleanup(stop)
  for (let t = 0; !/^api: /m.test(out); t++) {
    if (child.exitCode !== null) throw new Error(`node exited (${child.exitCode}): ${out}\n${err}`)
    if (t > 600) throw new Error(`node did not start: ${out}\n${err}`)
    await sleep(50)
  }
  const peerId = /^peer id: (\S+)$/m.exec(out)?.[1]
  return { api: `http://127.0.0.1:${api}`, registry: `127.0.0.1:${registry}`, pid: child.pid, peerId, multiaddr: `/ip4/127.0.0.1/tcp/${swarm}/p2p/${peerId}`, stop }
}

/** `POST /api/v1/image?wait=true`: resolves to `{name, tag, cid}` once the import is done. */
export async function importImage (node, name, tag) {
  const res = await fetch(`${node.api}/api/v1/image?wait=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, tag }) })
  const body = await res.json()
  if (res.status !== 200 || body.cid == null) throw new Error(`import failed: HTTP ${res.status} ${JSON.stringify(body)}`)
  return body
}

// ---------------------------------------------------------------- a random image

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar'

function tarHeader (name, size) {
  const h = Buffer.alloc(512)
  const field = (offset, len, value) => h.write(value, offset, len, 'ascii')
  field(0, 100, name)
  field(100, 8, '0000644\0')
  field(108, 8, '0000000\0')
  field(116, 8, '0000000\0')
  field(124, 12, size.toString(8).padStart(11, '0') + '\0')
  field(136, 12, '00000000000\0')
  h.fill(' ', 148, 156)
  field(156, 1, '0')
  field(257, 6, 'ustar\0')
  field(263, 2, '00')
  let sum = 0
  for (const b of h) sum += b
  field(148, 8, sum.toString(8).padStart(6, '0') + '\0 ')
  return h
}

/** An uncompressed tar holding one file of `bytes` random bytes; returns its path, digest and size. */
async function randomLayer (dir, i, bytes) {
  const path = join(dir, `layer${i}.tar`)
  const out = createWriteStream(path)
  const hash = createHash('sha256')
  const write = async buf => { hash.update(buf); if (!out.write(buf)) await new Promise(resolve => out.once('drain', resolve)) }
  await write(tarHeader(`random-${i}.bin`, bytes))
  const chunk = Buffer.alloc(4 * MiB)
  for (let left = bytes; left > 0; left -= chunk.length) {
    randomFillSync(chunk)
    await write(left >= chunk.length ? chunk : Buffer.from(chunk.subarray(0, left)))
  }
  const pad = (512 - (bytes % 512)) % 512
  await write(Buffer.alloc(pad + 1024)) // padding, then the two zero blocks that end the archive
  await new Promise((resolve, reject) => out.end(err => err ? reject(err) : resolve()))
  return { path, digest: `sha256:${hash.digest('hex')}`, size: (await stat(path)).size }
}

function httpStatus (url, method, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, res => {
      let text = ''
      res.on('data', d => { text += d })
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }))
    })
    req.on('error', reject)
    if (body == null) req.end()
    else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body)
    else body.pipe(req)
  })
}

async function pushBlob (registryUrl, repo, { digest, size, path, bytes }) {
  const start = await httpStatus(`${registryUrl}/v2/${repo}/blobs/uploads/`, 'POST', { headers: { 'content-length': '0' } })
  if (start.status !== 202) throw new Error(`upload start: ${start.status} ${start.text}`)
  const location = new URL(start.headers.location, registryUrl)
  location.searchParams.set('digest', digest)
  const body = bytes ?? createReadStream(path)
  const put = await httpStatus(location, 'PUT', { headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) }, body })
  if (put.status !== 201) throw new Error(`upload ${digest}: ${put.status} ${put.text}`)
}

/** Pushes one blob of `bytes` random bytes to `registryUrl` under `repo`; returns its digest */
export async function pushBlobBytes (registryUrl, repo, bytes) {
  const dir = await tempDir('dm-bench-blob-')
  const layer = await randomLayer(dir, 0, bytes)
  await pushBlob(registryUrl, repo, layer)
  await rm(dir, { recursive: true, force: true })
  return layer.digest
}

/**
 * Pushes a single-platform OCI image (linux/amd64) of `layers` uncompressed tar layers, each one
 * file of `layerMiB` random MiB, to `registryUrl` as `repo:tag`. It need not run; it must pull.
 */
export async function pushRandomImage (registryUrl, repo, tag, { layers = 6, layerMiB = 48 } = {}) {
  const dir = await tempDir('dm-bench-image-')
  const descriptors = []
  for (let i = 0; i < layers; i++) {
    const layer = await randomLayer(dir, i, layerMiB * MiB)
    await pushBlob(registryUrl, repo, layer)
    await rm(layer.path)
    descriptors.push({ mediaType: OCI_LAYER_TAR, digest: layer.digest, size: layer.size })
  }
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z', config: { Cmd: ['/random-0.bin'] },
    rootfs: { type: 'layers', diff_ids: descriptors.map(d => d.digest) }, // uncompressed: diff_id = digest
    history: descriptors.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'bench/lib/bench.mjs' }))
  }))
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`
  await pushBlob(registryUrl, repo, { digest: configDigest, size: config.length, bytes: config })
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length }, layers: descriptors
  }))
  const put = await httpStatus(`${registryUrl}/v2/${repo}/manifests/${tag}`, 'PUT', { headers: { 'content-type': OCI_MANIFEST, 'content-length': String(manifest.length) }, body: manifest })
  if (put.status !== 201) throw new Error(`manifest: ${put.status} ${put.text}`)
  await rm(dir, { recursive: true, force: true })
  return { size: descriptors.reduce((s, d) => s + d.size, 0) + config.length + manifest.length, layers: descriptors.length, digest: put.headers['docker-content-digest'], manifestSize: manifest.length }
}

// ---------------------------------------------------------------- a node's event stream

/**
 * Follows a node's `/api/v1/events`; calls onKey(key, time) for every store change, time taken as
 * the chunk arrives (before parsing). Resolves once the stream is open; ends with `signal`.
 */
export async function followStoreEvents (apiUrl, onKey, signal, headers = {}) {
  const res = await fetch(`${apiUrl}/api/v1/events`, { signal, headers })
  if (res.body == null) throw new Error(`no event stream from ${apiUrl}`)
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  let buf = ''
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        const now = performance.now()
        buf += decoder.decode(value, { stream: true })
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const frame = buf.slice(0, end)
          buf = buf.slice(end + 2)
          // store events only: other events (peers, identity, jobs) carry no key
          const data = /^data: (.*)$/m.exec(frame)?.[1]
          const key = data == null ? undefined : JSON.parse(data).key
          if (typeof key === 'string') onKey(key, now)
        }
      }
    } catch { /* aborted */ }
  })()
}

// ---------------------------------------------------------------- statistics and reporting

export const median = xs => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2 }
export const fmtS = ms => `${(ms / 1000).toFixed(2)} s`

/** "median 3.21 s (min 3.02, max 3.90, spread ±6%)" — spread is (max - min) / 2 / median. */
export function describe (ms) {
  const m = median(ms)
  return `median ${fmtS(m)}  (min ${(Math.min(...ms) / 1000).toFixed(2)}, max ${(Math.max(...ms) / 1000).toFixed(2)}, spread ±${((Math.max(...ms) - Math.min(...ms)) / 2 / m * 100).toFixed(0)}%)`
}

export async function loadAverage () {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds (pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
}

/**
 * `perf record -g` until stop(): `target` is perf's choice of what to record, e.g. ['-a'] (every
 * CPU) or ['-p', '12,34'] (those processes). stop() prints how to read the file.
 */
export function startPerf (target, out) {
  if (!existsSync('/usr/bin/perf')) throw new Error('--perf needs perf: apt-get install linux-perf')
  const child = spawn('perf', ['record', '-q', '-g', '-o', out, ...target], { stdio: 'inherit' })
  const exited = new Promise(resolve => child.once('exit', resolve))
  return {
    stop: async () => {
      child.kill('SIGINT')
      await exited
      console.log(`    perf: ${out} (perf report -i ${out} --no-children --sort comm,pid,sym)`)
    }
  }
}

export async function mkdirp (dir) { await mkdir(dir, { recursive: true }); return dir }

export async function timed (fn) {
  const t0 = performance.now()
  const result = await fn()
  return { ms: performance.now() - t0, result }
}
