import { useState, type ReactNode } from 'react'
import { useStore } from '../api/hooks'
import { LoadState } from '../components/load-state'
import { StoreTable } from '../components/store-table'
import { filterEntries } from '../lib/filter'

export function DatastorePage (): ReactNode {
  const store = useStore()
  const [query, setQuery] = useState('')
  const all = store.data ?? []
  const shown = filterEntries(all, query)
  return (
    <>
      <h1>Datastore</h1>
      <p className="lead muted">The replicated key/value store every node shares (DistroMash's CRDT page).</p>
      <div className="filter">
        <label htmlFor="store-filter">Filter keys and values</label>
        <input id="store-filter" type="search" value={query} placeholder="e.g. strategy/ or busybox" onChange={e => { setQuery(e.target.value) }} />
        <span className="muted small" role="status">{shown.length} of {all.length} keys</span>
      </div>
      <LoadState loading={store.loading} error={store.error} />
      {store.data != null && <StoreTable entries={shown} />}
    </>
  )
}
