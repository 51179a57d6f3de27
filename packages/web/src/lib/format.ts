const UNITS = ['B', 'KB', 'MB', 'GB', 'TB']

/** 1536 → "1.5 KB" (binary multiples, the way registries and Docker report sizes) */
export function formatBytes (n: number | undefined): string {
  if (n == null || !Number.isFinite(n) || n < 0) return '—'
  let v = n
  let u = 0
  while (v >= 1024 && u < UNITS.length - 1) { v /= 1024; u++ }
  return `${u === 0 ? v : v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`
}

/** "12D3KooWAbc…xyz123": enough of a peer ID to tell peers apart */
export function shortId (id: string, head = 8, tail = 6): string {
  const h = id.startsWith('12D3KooW') ? head + 4 : head
  return id.length <= h + tail + 1 ? id : `${id.slice(0, h)}…${id.slice(-tail)}`
}

/** The middle of a long CID or digest, keeping the algorithm prefix readable */
export function shortHash (s: string | undefined, keep = 10): string {
  if (s == null || s === '') return '—'
  const colon = s.indexOf(':')
  const prefix = colon >= 0 ? s.slice(0, colon + 1) : ''
  const body = s.slice(prefix.length)
  return body.length <= keep * 2 + 1 ? s : `${prefix}${body.slice(0, keep)}…${body.slice(-6)}`
}

/** An ISO time as "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago" */
export function formatAgo (iso: string | undefined, now = Date.now()): string {
  if (iso == null) return '—'
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return '—'
  const s = Math.round((now - t) / 1000)
  if (s < 0) return `in ${formatDuration(-s)}`
  if (s < 3) return 'just now'
  return `${formatDuration(s)} ago`
}

export function formatDuration (seconds: number): string {
  if (seconds < 60) return `${seconds} s`
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h`
  return `${Math.round(seconds / 86_400)} d`
}

export function formatLatency (ms: number | undefined): string {
  if (ms == null) return '—'
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`
}

/** done/total as a whole percentage 0–100, or undefined when the total is unknown */
export function percent (done: number | undefined, total: number | undefined): number | undefined {
  if (done == null || total == null || total <= 0) return undefined
  return Math.max(0, Math.min(100, Math.floor(done / total * 100)))
}

/** "busybox:1.36 → 4 MB of 10 MB (40 %)" style progress text */
export function formatProgress (done: number | undefined, total: number | undefined): string {
  const p = percent(done, total)
  if (p == null) return done != null && done > 0 ? formatBytes(done) : ''
  return `${formatBytes(done)} / ${formatBytes(total)} (${p} %)`
}

/** A store value as JSON (strings unquoted); indent > 0 pretty-prints objects */
export function formatValue (value: unknown, indent = 0): string {
  if (typeof value === 'string') return value
  if (value === undefined) return ''
  return JSON.stringify(value, null, indent)
}

export function formatTime (iso: string | undefined): string {
  if (iso == null) return '—'
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? '—' : d.toLocaleString()
}
