// Writes src/api/openapi.d.ts from the controller's OpenAPI document (needs the controller built:
// `npx tsc -b` at the root). With --check, writes nothing and exits 1 when the file is stale.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { apiTypes } from './api-types.mjs'

const target = join(import.meta.dirname, '..', 'src', 'api', 'openapi.d.ts')
const controller = join(import.meta.dirname, '..', '..', 'controller', 'dist', 'api', 'document.js')

let nodeApiDocument
try {
  ({ nodeApiDocument } = await import(controller))
} catch (err) {
  console.error(`gen:api: cannot load ${controller} (${err.code ?? err.message}); build the controller first: npx tsc -b`)
  process.exit(1)
}
const text = await apiTypes(nodeApiDocument())
let current = ''
try { current = readFileSync(target, 'utf8') } catch { /* not generated yet */ }
if (process.argv.includes('--check')) {
  if (current !== text) {
    console.error('src/api/openapi.d.ts is stale: the API changed. Run: npm run gen:api -w @distromash/web')
    process.exit(1)
  }
} else if (current !== text) {
  writeFileSync(target, text)
  console.log('gen:api: wrote src/api/openapi.d.ts')
}
