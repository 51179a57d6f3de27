import type { EventName } from './types'

export const EVENT_NAMES: EventName[] = ['store', 'replication', 'strategy', 'image', 'job', 'peers', 'identity']

export type LiveStatus =
  | { state: 'connecting' }
  | { state: 'open' }
  | { state: 'retrying', attempt: number, retryAt: number }

export interface EventSourceLike {
  addEventListener: (type: string, listener: (e: MessageEvent) => void) => void
  close: () => void
  onopen: ((e: Event) => void) | null
  onerror: ((e: Event) => void) | null
}

export interface LiveOptions {
  url?: string
  onEvent: (name: EventName, data: unknown) => void
  onStatus: (status: LiveStatus) => void
  /** After a drop the stream may have missed changes: refetch everything */
  onReconnect: () => void
  create?: (url: string) => EventSourceLike
  minDelayMs?: number
  maxDelayMs?: number
}

/** Exponential backoff: 1 s, 2 s, 4 s … capped */
export function backoffDelay (attempt: number, min = 1000, max = 30_000): number {
  return Math.min(max, min * 2 ** Math.max(0, attempt - 1))
}

/**
 * One EventSource on /api/v1/events. The browser's own retry is replaced by ours (close on
 * error, reopen after a growing delay) so the page can say it is disconnected and when it retries.
 */
export function connectEvents (o: LiveOptions): () => void {
  const create = o.create ?? ((url: string) => new EventSource(url) as unknown as EventSourceLike)
  let source: EventSourceLike | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let attempt = 0
  let dropped = false
  let stopped = false

  const open = (): void => {
    if (stopped) return
    const es = create(o.url ?? '/api/v1/events')
    source = es
    for (const name of EVENT_NAMES) {
      es.addEventListener(name, e => {
        let data: unknown
        try { data = JSON.parse(String(e.data)) } catch { return }
        o.onEvent(name, data)
      })
    }
    es.onopen = () => {
      attempt = 0
      o.onStatus({ state: 'open' })
      if (dropped) o.onReconnect()
      dropped = false
    }
    es.onerror = () => {
      es.close()
      if (stopped || source !== es) return
      dropped = true
      attempt++
      const delay = backoffDelay(attempt, o.minDelayMs, o.maxDelayMs)
      o.onStatus({ state: 'retrying', attempt, retryAt: Date.now() + delay })
      timer = setTimeout(open, delay)
    }
  }
  o.onStatus({ state: 'connecting' })
  open()
  return () => {
    stopped = true
    clearTimeout(timer)
    source?.close()
  }
}
