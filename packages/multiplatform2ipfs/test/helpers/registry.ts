import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { digestHex, type Digest } from '../../src/digest.js'

export const REGISTRY_BINARY = '/usr/bin/docker-registry'

/** A real distribution registry (Debian's docker-registry) on loopback, storing in a temp dir. */
export interface RunningRegistry {
  /** `http://127.0.0.1:<port>` */
  url: string
  /** `127.0.0.1:<port>`, usable as the registry part of a reference */
  host: string
  root: string
  /** Where the filesystem driver keeps a blob's bytes (for tampering tests). */
  blobDataPath: (digest: Digest) => string
  stop: () => Promise<void>
}

export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

export async function startRegistry (): Promise<RunningRegistry> {
  if (!existsSync(REGISTRY_BINARY)) {
    // integration tests must not silently pass without their upstream
    throw new Error(`${REGISTRY_BINARY} is missing: install Debian's docker-registry package (apt-get install docker-registry)`)
  }
  const root = await mkdtemp(join(tmpdir(), 'mp2ipfs-registry-'))
  const port = await freePort()
  const config = join(root, 'config.yml')
  await writeFile(config, [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(root, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ''
  ].join('\n'))
  const child = spawn(REGISTRY_BINARY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const url = `http://127.0.0.1:${port}`
  await waitUntilReady(url, child, () => stderr)
  return {
    url,
    host: `127.0.0.1:${port}`,
    root,
    blobDataPath: (digest) => join(root, 'data', 'docker/registry/v2/blobs/sha256', digestHex(digest).slice(0, 2), digestHex(digest), 'data'),
    stop: async () => {
      await stopChild(child)
      await rm(root, { recursive: true, force: true })
    }
  }
}

async function waitUntilReady (url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr()}`)
    }
    try {
      const res = await fetch(`${url}/v2/`)
      if (res.status === 200) return
    } catch {
      // not listening yet
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  await stopChild(child)
  throw new Error(`docker-registry did not answer GET /v2/ with 200 within 15 s: ${stderr()}`)
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>(resolve => {
    child.once('exit', () => { resolve() })
    child.kill('SIGTERM')
    setTimeout(() => { child.kill('SIGKILL') }, 5000).unref()
  })
}
