import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { apiTypes } from '../../web/scripts/api-types.mjs'
import { nodeApiDocument } from '../src/api/document.js'
import { NodeProcess, ROOT } from '../../../test/helpers/node-process.js'

const TYPES = 'packages/web/src/api/openapi.d.ts'
const REGENERATE = 'npx tsc -b && npm run gen:api -w @distromash/web'

/**
 * The dashboard's API types are generated from the document the controller's route registrations
 * describe (api/document.ts), which must be the one a node serves: when a route or schema changes,
 * these fail until the types are regenerated and committed.
 */
describe('the API document and the dashboard types generated from it', () => {
  it(`${TYPES} is what the current API document generates`, async () => {
    const fresh = await apiTypes(nodeApiDocument())
    const file = await readFile(join(ROOT, TYPES), 'utf8')
    if (file !== fresh) {
      // the diff below says what changed
      expect(file, `${TYPES} is stale: the API changed. Regenerate it: ${REGENERATE}`).toBe(fresh)
    }
    expect(fresh).toMatch(/"\/api\/v1\/events": \{/)
    expect(fresh).toMatch(/ {8}Identity: \{/)
  })

  it(`${TYPES} in the working tree is the committed one (the build regenerates it)`, async () => {
    const git = async (...args: string[]): Promise<string> => (await promisify(execFile)('git', args, { cwd: ROOT, maxBuffer: 16 << 20 })).stdout
    await git('rev-parse', '--is-inside-work-tree').catch((err: Error) => {
      throw new Error(`this test compares with the committed ${TYPES}: it needs a git checkout and git (apt-get install git): ${err.message.split('\n')[0] ?? ''}`)
    })
    const committed = await git('show', `HEAD:${TYPES}`).catch(() => { throw new Error(`${TYPES} is not committed: commit it (regenerate with ${REGENERATE})`) })
    const file = await readFile(join(ROOT, TYPES), 'utf8')
    expect(file === committed, `${TYPES} differs from the committed file: commit the regenerated types with the API change`).toBe(true)
  })

  it('a running node serves exactly the document the types come from', async () => {
    const node = await NodeProcess.start()
    try {
      const { status, body } = await node.api('/openapi.json')
      expect(status).toBe(200)
      expect(body).toEqual(JSON.parse(JSON.stringify(nodeApiDocument())))
    } finally {
      await node.stop()
    }
  }, 60_000)
})
