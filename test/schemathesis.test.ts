import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { pushSingleImage } from '../packages/multiplatform2ipfs/test/helpers/images.js'
import { startRegistry, type RunningRegistry } from '../packages/multiplatform2ipfs/test/helpers/registry.js'
import { NodeProcess, ROOT } from './helpers/node-process.js'

const run = promisify(execFile)
const TOKEN = 'schemathesis-token-0123456789'
/** The CI virtualenv (.ci/run makes it), or one on PATH */
const SCHEMATHESIS = [join(ROOT, '.venv/bin/schemathesis'), '/usr/local/bin/schemathesis'].find(p => existsSync(p)) ?? 'schemathesis'

/**
 * Schemathesis, a tool nobody here wrote, against a running node's /openapi.json: every
 * operation (the endless event stream excepted: it is tested in api.test.ts), positive and
 * negative cases, stateful sequences; no 5xx, no status or body outside the document, invalid
 * input rejected, unknown methods answered 405 with Allow. The node must be alive afterwards.
 */
describe('the API under schemathesis', () => {
  let upstream: RunningRegistry
  let node: NodeProcess

  beforeAll(async () => {
    upstream = await startRegistry()
    await pushSingleImage(upstream.url, 'busybox', '1.35.0')
    node = await NodeProcess.start({ extraArgs: ['--api-token', TOKEN, '--upstream', upstream.url, '--docker-host', 'unix:///nonexistent/docker.sock'] })
  }, 60_000)

  afterAll(async () => {
    await node?.stop()
    await upstream?.stop()
  })

  it('finds no server error, no undocumented status or body, and accepts no invalid input', async () => {
    const seed = process.env.SCHEMATHESIS_SEED ?? '20261204'
    const args = ['run', `${node.apiUrl}/openapi.json`, '-H', `Authorization: Bearer ${TOKEN}`,
      '--checks', 'not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance,negative_data_rejection,unsupported_method,allow_header_conformance',
      '--exclude-path', '/api/v1/events', '--max-examples', '40', '--seed', seed, '--workers', '2', '--no-color']
    let output: string
    try {
      // run from a scratch dir: schemathesis keeps a cache (.schemathesis/) in its working directory
      output = (await run(SCHEMATHESIS, args, { cwd: tmpdir(), maxBuffer: 64 * 1024 * 1024, timeout: 600_000, env: { ...process.env, SCHEMATHESIS_HOOKS: '' } })).stdout
    } catch (err) {
      const e = err as Error & { code?: number | string, stdout?: string, stderr?: string }
      if (e.code === 'ENOENT') throw new Error(`schemathesis is not installed (${SCHEMATHESIS}): run .ci/run, which makes .venv with it`)
      throw new Error(`schemathesis found failures (seed ${seed}):\n${(e.stdout ?? '').slice(-20_000)}${e.stderr ?? ''}`)
    }
    // the figures, for the log
    console.log(output.split('\n').filter(l => /generated|Selected|Tested|passed|failures|Seed/.test(l)).join('\n'))
    expect(output).toMatch(/Test cases:\s*\n\s*\d+ generated, \d+ passed/)
    expect((await node.api('/health')).status).toBe(200)
  }, 660_000)
})
