// Summaries of V8 CPU profiles (`node --cpu-prof`): the functions with the most self time, and for
// the heaviest of them the call paths that led there (a bottom-up view), so a bench run with
// --profile says where the CPU went, and who asked for it, without opening DevTools.
import { readFile, readdir } from 'node:fs/promises'
import { join, relative } from 'node:path'

const ROOT = new URL('../..', import.meta.url).pathname

/** Every .cpuprofile in `dir`, each as nodes by id with their parents, and its samples */
async function loadProfiles (dir) {
  const out = []
  for (const file of (await readdir(dir)).filter(f => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8'))
    const byId = new Map(profile.nodes.map(n => [n.id, n]))
    const parent = new Map()
    for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id)
    out.push({ profile, byId, parent })
  }
  return out
}

/** Self time per function over every .cpuprofile in `dir`: [{name, ms, share, paths}] sorted by ms */
export async function selfTimes (dir, depth = 4) {
  const totals = new Map()
  let all = 0
  for (const { profile, byId, parent } of await loadProfiles(dir)) {
    profile.samples.forEach((id, i) => {
      const ms = (profile.timeDeltas[i] ?? 0) / 1000
      const name = frameName(byId.get(id)?.callFrame)
      const entry = totals.get(name) ?? { ms: 0, paths: new Map() }
      entry.ms += ms
      // the callers above this sample, nearest first (`depth` frames)
      const path = []
      for (let p = parent.get(id); p != null && path.length < depth; p = parent.get(p)) {
        const caller = frameName(byId.get(p)?.callFrame)
        if (caller !== '(root)') path.push(caller)
      }
      const key = path.join(' ← ')
      entry.paths.set(key, (entry.paths.get(key) ?? 0) + ms)
      totals.set(name, entry)
      all += ms
    })
  }
  return [...totals].map(([name, { ms, paths }]) => ({
    name, ms, share: ms / all, paths: [...paths].map(([path, pms]) => ({ path, ms: pms })).sort((a, b) => b.ms - a.ms)
  })).sort((a, b) => b.ms - a.ms)
}

function frameName (frame) {
  if (frame == null) return '(unknown)'
  const url = frame.url.replace(/^file:\/\//, '')
  const where = url === '' ? '' : ` ${url.startsWith('node:') ? url : relative(ROOT, url)}:${frame.lineNumber + 1}`
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${where}`
}

/** Prints the top `n` functions by self time, then the main call paths of the top `callers` of them */
export async function printProfile (dir, title, n = 25, callers = 10) {
  const rows = await selfTimes(dir)
  const total = rows.reduce((s, r) => s + r.ms, 0)
  console.log(`\n${title}: ${(total / 1000).toFixed(1)} s sampled; top ${n} by self time`)
  for (const r of rows.slice(0, n)) console.log(`  ${(r.share * 100).toFixed(1).padStart(5)}%  ${(r.ms / 1000).toFixed(2).padStart(6)} s  ${r.name}`)
  console.log(`\n${title}: who called the top ${callers} (self time by call path, nearest caller first)`)
  for (const r of rows.filter(r => !r.name.startsWith('(idle)') && !r.name.startsWith('(program)')).slice(0, callers)) {
    console.log(`  ${(r.ms / 1000).toFixed(2)} s  ${r.name}`)
    for (const p of r.paths.slice(0, 3)) console.log(`    ${(p.ms / 1000).toFixed(2).padStart(5)} s  ← ${p.path || '(top)'}`)
  }
}

// node bench/lib/profile.mjs DIR [n]: summarise profiles kept by a bench's --profile-dir
if (import.meta.url === `file://${process.argv[1]}`) await printProfile(process.argv[2], process.argv[2], Number(process.argv[3] ?? 25))
