import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react'
import { ApiError, api } from './client'
import { connectEvents, type LiveStatus } from './events'
import type { EventName } from './types'

type Listener = (name: EventName | 'reconnect', data: unknown) => void

interface Live {
  status: LiveStatus
  subscribe: (fn: Listener) => () => void
}

const LiveContext = createContext<Live>({ status: { state: 'connecting' }, subscribe: () => () => {} })

/** Holds the page's single event stream; every resource hook listens to it. */
export function LiveProvider ({ children, url }: { children: ReactNode, url?: string }): ReactNode {
  const [status, setStatus] = useState<LiveStatus>({ state: 'connecting' })
  const listeners = useRef(new Set<Listener>())
  useEffect(() => connectEvents({
    ...(url != null ? { url } : {}),
    onStatus: setStatus,
    onEvent: (name, data) => { for (const l of listeners.current) l(name, data) },
    onReconnect: () => { for (const l of listeners.current) l('reconnect', undefined) }
  }), [url])
  const subscribe = useCallback((fn: Listener) => {
    listeners.current.add(fn)
    return () => { listeners.current.delete(fn) }
  }, [])
  const value = useMemo(() => ({ status, subscribe }), [status, subscribe])
  return createElement(LiveContext.Provider, { value }, children)
}

export function useLiveStatus (): LiveStatus {
  return useContext(LiveContext).status
}

export interface Resource<T> {
  data?: T
  error?: ApiError
  loading: boolean
  reload: () => Promise<void>
}

interface ResourceOptions<T> {
  /** Events after which the resource is refetched */
  events?: EventName[]
  /** Only events whose data passes this refetch */
  filter?: (name: EventName, data: unknown) => boolean
  /** Coalesce bursts of events into one refetch */
  debounceMs?: number
  /** Refetch periodically (values the stream does not carry, e.g. latency) */
  pollMs?: number
  /** Refetch every second while this holds (e.g. a running import) */
  pollWhile?: (data: T) => boolean
}

/** Fetch once, then refetch on matching events (coalesced), on reconnect and on a timer. */
export function useResource<T> (load: () => Promise<T>, o: ResourceOptions<T> = {}): Resource<T> {
  const [state, setState] = useState<{ data?: T, error?: ApiError, loading: boolean }>({ loading: true })
  const loadRef = useRef(load)
  loadRef.current = load
  const seq = useRef(0)
  const alive = useRef(true)
  const reload = useCallback(async () => {
    const n = ++seq.current
    try {
      const data = await loadRef.current()
      if (alive.current && n === seq.current) setState({ data, loading: false })
    } catch (err) {
      const error = err instanceof ApiError ? err : new ApiError(0, 'ERROR', String(err))
      if (alive.current && n === seq.current) setState(s => ({ ...s, error, loading: false }))
    }
  }, [])

  useEffect(() => {
    alive.current = true
    void reload()
    return () => { alive.current = false }
  }, [reload])

  const { subscribe } = useContext(LiveContext)
  const { events, filter, debounceMs = 250, pollMs } = o
  const eventKey = events?.join(',') ?? ''
  const filterRef = useRef(filter)
  filterRef.current = filter
  useEffect(() => {
    if (eventKey === '') return
    const names = eventKey.split(',')
    let timer: ReturnType<typeof setTimeout> | undefined
    const off = subscribe((name, data) => {
      if (name === 'reconnect') { void reload(); return }
      if (!names.includes(name) || (filterRef.current != null && !filterRef.current(name, data))) return
      // a burst (e.g. progress updates) yields one refetch per window, never starves
      timer ??= setTimeout(() => { timer = undefined; void reload() }, debounceMs)
    })
    return () => { off(); clearTimeout(timer) }
  }, [eventKey, debounceMs, subscribe, reload])

  const pollWhile = o.pollWhile
  const fast = state.data !== undefined && pollWhile?.(state.data) === true
  const every = fast ? 1000 : pollMs
  useEffect(() => {
    if (every == null) return
    const t = setInterval(() => { void reload() }, every)
    return () => { clearInterval(t) }
  }, [every, reload])

  return { ...state, reload }
}

export const useIdentity = () => useResource(api.identity, { events: ['identity'] })
export const useHealth = () => useResource(api.health, { events: ['peers', 'store', 'identity'], debounceMs: 1000, pollMs: 10_000 })
export const usePeers = () => useResource(api.peers, { events: ['peers'], pollMs: 5000 })
export const useStrategies = () => useResource(api.strategies, { events: ['strategy', 'replication'] })
export const useReplication = () => useResource(api.replication, { events: ['replication', 'peers'] })
export const useImages = () => useResource(api.images, { events: ['image'] })
export const useJobs = () => useResource(api.jobs, { events: ['job'], pollWhile: jobs => jobs.some(j => j.state === 'running') })
export const useStore = () => useResource(() => api.crdt(), { events: ['store'] })

export { api, ApiError }
