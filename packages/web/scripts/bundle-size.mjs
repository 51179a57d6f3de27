// Prints the gzipped size of what the browser loads first (the JS and CSS index.html references)
// and fails the build when it exceeds the budget.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

const BUDGET = 300 * 1024
const dist = join(import.meta.dirname, '..', 'dist')
const html = readFileSync(join(dist, 'index.html'), 'utf8')
const refs = [...html.matchAll(/<(?:script|link)\b[^>]*?(?:src|href)="([^"]+\.(?:js|css))"/g)].map(m => m[1])
let total = 0
for (const ref of new Set(refs)) {
  const bytes = readFileSync(join(dist, ref.replace(/^\//, '')))
  const gz = gzipSync(bytes, { level: 9 }).length
  total += gz
  console.log(`  ${ref.padEnd(40)} ${kb(bytes.length).padStart(10)}  gzip ${kb(gz).padStart(9)}`)
}
console.log(`initial load: ${kb(total)} gzipped (budget ${kb(BUDGET)})`)
if (refs.length === 0) { console.error('no JS or CSS found in dist/index.html'); process.exit(1) }
if (total > BUDGET) { console.error('over budget'); process.exit(1) }

function kb (n) { return `${(n / 1024).toFixed(1)} KB` }
