// Summaries of V8 CPU profiles (`node --cpu-prof`): the functions with the most self time, so a
// bench run with --profile says where the CPU went without opening DevTools.
import { readFile, readdir } from 'node:fs/promises'
import { join, relative } from 'node:path'

const ROOT = new URL('../..', import.meta.url).pathname

/** Self time per function over every .cpuprofile in `dir`: [{name, ms, share}] sorted by ms */
export async function selfTimes (dir) {
  const totals = new Map()
  let all = 0
  for (const file of (await readdir(dir)).filter(f => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8'))
    const byId = new Map(profile.nodes.map(n => [n.id, n]))
    profile.samples.forEach((id, i) => {
      const ms = (profile.timeDeltas[i] ?? 0) / 1000
      const name = frameName(byId.get(id)?.callFrame)
      totals.set(name, (totals.get(name) ?? 0) + ms)
      all += ms
    })
  }
  return [...totals].map(([name, ms]) => ({ name, ms, share: ms / all })).sort((a, b) => b.ms - a.ms)
}

function frameName (frame) {
  if (frame == null) return '(unknown)'
  const where = frame.url === '' ? '' : ` ${relative(ROOT, frame.url.replace(/^file:\/\//, ''))}:${frame.lineNumber + 1}`
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${where}`
}

/** Prints the top `n` functions by self time */
export async function printProfile (dir, title, n = 25) {
  const rows = await selfTimes(dir)
  const total = rows.reduce((s, r) => s + r.ms, 0)
  console.log(`\n${title}: ${(total / 1000).toFixed(1)} s sampled; top ${n} by self time`)
  for (const r of rows.slice(0, n)) console.log(`  ${(r.share * 100).toFixed(1).padStart(5)}%  ${(r.ms / 1000).toFixed(2).padStart(6)} s  ${r.name}`)
}
