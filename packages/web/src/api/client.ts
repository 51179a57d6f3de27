import type {
  Health, Identity, ImageRecord, ImportJob, ImportRequest, Peer, Preview, Replication,
  StoreEntry, Strategy, StrategyInput, StrategyUpdate
} from './types'

/** An error answer of the API: `{error: {code, message, field?}}`, or a network failure (status 0). */
export class ApiError extends Error {
  override name = 'ApiError'
  constructor (readonly status: number, readonly code: string, message: string, readonly field?: string) { super(message) }
}

const TOKEN_KEY = 'distromash.apiToken'

/** The bearer token for mutating requests (nodes started with --api-token), kept in localStorage */
export function getToken (): string {
  try { return localStorage.getItem(TOKEN_KEY) ?? '' } catch { return '' }
}

export function setToken (token: string): void {
  try {
    if (token === '') localStorage.removeItem(TOKEN_KEY)
    else localStorage.setItem(TOKEN_KEY, token)
  } catch { /* storage disabled: the token lasts for this page only */ }
}

/** The one place the dashboard calls fetch. Same origin as the node, so paths are relative. */
async function request<T> (method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const token = getToken()
  if (method !== 'GET' && token !== '') headers.authorization = `Bearer ${token}`
  let res: Response
  try {
    res = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `the node did not answer (${(err as Error).message})`)
  }
  const text = await res.text()
  let json: unknown
  try { json = text === '' ? undefined : JSON.parse(text) } catch { json = undefined }
  if (!res.ok) throw toError(res.status, json, text)
  return json as T
}

export function toError (status: number, json: unknown, text = ''): ApiError {
  const e = (json as { error?: { code?: unknown, message?: unknown, field?: unknown } } | undefined)?.error
  if (e != null && typeof e.message === 'string') {
    return new ApiError(status, typeof e.code === 'string' ? e.code : 'ERROR', e.message, typeof e.field === 'string' ? e.field : undefined)
  }
  return new ApiError(status, 'HTTP', `HTTP ${status}${text !== '' ? `: ${text.slice(0, 200)}` : ''}`)
}

const enc = encodeURIComponent

export const api = {
  /** /health answers 503 with the same body while the node is not ready */
  health: async () => request<Health>('GET', '/health').catch((err: unknown) => {
    if (err instanceof ApiError && err.status === 503) return { status: 'unavailable' } as Health
    throw err
  }),
  identity: async () => request<Identity>('GET', '/api/v1/identity'),
  peers: async () => request<Peer[]>('GET', '/api/v1/peers'),
  crdt: async (prefix?: string) => request<StoreEntry[]>('GET', `/api/v1/crdt${prefix != null ? `?prefix=${enc(prefix)}` : ''}`),
  images: async () => request<ImageRecord[]>('GET', '/api/v1/images'),
  importImage: async (body: ImportRequest) => request<ImportJob>('POST', '/api/v1/image', body),
  jobs: async () => request<ImportJob[]>('GET', '/api/v1/jobs'),
  job: async (id: string) => request<ImportJob>('GET', `/api/v1/jobs/${enc(id)}`),
  strategies: async () => request<Strategy[]>('GET', '/api/v1/strategy'),
  strategyTypes: async () => request<string[]>('GET', '/api/v1/strategy/types'),
  previewStrategy: async (body: StrategyInput) => request<Preview>('POST', '/api/v1/strategy/preview', body),
  createStrategy: async (body: StrategyInput) => request<Strategy>('POST', '/api/v1/strategy', body),
  updateStrategy: async (body: StrategyUpdate) => request<Strategy>('PUT', '/api/v1/strategy', body),
  deleteStrategy: async (key: string) => request<undefined>('DELETE', `/api/v1/strategy/${enc(key)}`),
  replication: async () => request<Replication>('GET', '/api/v1/replication')
}

export type Api = typeof api
