import type { StoreEntry } from '../api/types'
import { formatValue } from './format'

/** Entries whose key or value contains every word of the query (case-insensitive) */
export function filterEntries (entries: StoreEntry[], query: string): StoreEntry[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean)
  if (words.length === 0) return entries
  return entries.filter(e => {
    const text = `${e.key}\n${formatValue(e.value)}`.toLowerCase()
    return words.every(w => text.includes(w))
  })
}
