import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NodeProcess } from '../../../test/helpers/node-process.js'

interface ErrorBody { error: { code: string, message: string, field?: string } }

/** The REST API of a real node process. */
describe('API of a running node', () => {
  let node: NodeProcess
  const token = 'test-token-0123456789'
  const auth = { authorization: `Bearer ${token}` }

  beforeAll(async () => { node = await NodeProcess.start({ extraArgs: ['--api-token', token] }) })
  afterAll(async () => { await node.stop() })

  it('reports health with peer count and store state', async () => {
    const { status, body } = await node.api<{ status: string, peers: number, store: { keys: number } }>('/health')
    expect(status).toBe(200)
    expect(body).toMatchObject({ status: 'ok', peers: 0, store: { keys: 0 } })
  })

  it('serves identity and a peer list that starts with itself', async () => {
    const { body: id } = await node.api<{ peerId: string, privateNetwork: boolean, content: unknown }>('/api/v1/identity')
    expect(id.peerId).toBe(node.peerId)
    expect(id.privateNetwork).toBe(false)
    expect(id.content).toEqual({ kind: 'embedded', description: 'embedded (Helia)' })
    expect(node.output).toMatch(/^content: embedded \(Helia\)$/m)
    const { body: peers } = await node.api<Array<{ id: string, self: boolean }>>('/api/v1/peers')
    expect(peers[0]).toMatchObject({ id: node.peerId, self: true })
  })

  it('stores, reads, lists and deletes keys with slashes (URL-encoded)', async () => {
    const key = 'notes/12D3KooWabc/busybox:1.35.0'
    const put = await node.api('/api/v1/crdt', { method: 'POST', headers: auth, body: JSON.stringify({ key, value: { state: 'loaded' } }) })
    expect(put.status).toBe(201)
    expect((await node.api(`/api/v1/crdt/${encodeURIComponent(key)}`)).body).toEqual({ key, value: { state: 'loaded' } })
    expect((await node.api('/api/v1/crdt')).body).toEqual([{ key, value: { state: 'loaded' } }])
    expect((await node.api(`/api/v1/crdt/${encodeURIComponent(key)}`, { method: 'DELETE', headers: auth })).status).toBe(204)
    expect((await node.api(`/api/v1/crdt/${encodeURIComponent(key)}`)).status).toBe(404)
  })

  it('validates records against the schema of their key prefix, and refuses another peer\'s records', async () => {
    const { peerId } = (await node.api<{ peerId: string }>('/api/v1/identity')).body
    const res = await node.api<ErrorBody>('/api/v1/crdt', { method: 'POST', headers: auth, body: JSON.stringify({ key: `status/${peerId}/busybox:1.35.0`, value: { state: 'loaded' } }) })
    expect(res.status).toBe(400)
    expect(res.body.error.field).toBe('value')
    expect(res.body.error.message).toMatch(new RegExp(`status/${peerId}`))
    const other = await node.api<ErrorBody>('/api/v1/crdt', { method: 'POST', headers: auth, body: JSON.stringify({ key: 'status/12D3KooWabc/busybox:1.35.0', value: { state: 'loaded' } }) })
    expect(other.status).toBe(403)
    expect(other.body.error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/peer it describes/) })
  })

  it('refuses a foreign Host (DNS rebinding) on the API with 403 naming the field', async () => {
    const { request } = await import('node:http')
    const url = new URL(node.apiUrl)
    const answer = await new Promise<{ status: number, body: string }>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/api/v1/identity', headers: { host: `evil.example:${url.port}` } }, res => {
        let body = ''
        res.on('data', d => { body += String(d) })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
      })
      req.on('error', reject)
      req.end()
    })
    expect(answer.status).toBe(403)
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'HOST_NOT_ALLOWED', field: 'host' } })
  })

  it('requires the bearer token on mutating endpoints only', async () => {
    const denied = await node.api<ErrorBody>('/api/v1/crdt', { method: 'POST', body: JSON.stringify({ key: 'k', value: 1 }) })
    expect(denied.status).toBe(401)
    expect(denied.body.error.code).toBe('UNAUTHORIZED')
    const wrong = await node.api('/api/v1/crdt/k', { method: 'DELETE', headers: { authorization: 'Bearer nope' } })
    expect(wrong.status).toBe(401)
    expect((await node.api('/api/v1/crdt')).status).toBe(200)
  })

  it('answers validation errors with 400 and the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ value: 1 }, 'key'],
      [{ key: '', value: 1 }, 'key'],
      [{ key: 'k' }, 'value'],
      [{ key: 'k', value: 'x'.repeat(300 * 1024) }, 'value']
    ]
    for (const [body, field] of cases) {
      const res = await node.api<ErrorBody>('/api/v1/crdt', { method: 'POST', headers: auth, body: JSON.stringify(body) })
      expect(res.status, JSON.stringify(body).slice(0, 40)).toBe(400)
      expect(res.body.error).toMatchObject({ code: 'VALIDATION', field })
    }
  })

  it('answers malformed JSON with 400 and an oversized body with 413', async () => {
    const bad = await node.api<ErrorBody>('/api/v1/crdt', { method: 'POST', headers: auth, body: '{"key":' })
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('INVALID_JSON')
    const big = await node.api<ErrorBody>('/api/v1/crdt', { method: 'POST', headers: auth, body: JSON.stringify({ key: 'k', value: 'x'.repeat(2 * 1024 * 1024) }) })
    expect(big.status).toBe(413)
    expect(big.body.error.code).toBe('BODY_TOO_LARGE')
  })

  it('answers unknown keys and routes with 404 JSON', async () => {
    const key = await node.api<ErrorBody>('/api/v1/crdt/nope')
    expect(key.status).toBe(404)
    expect(key.body.error.code).toBe('NOT_FOUND')
    const route = await node.api<ErrorBody>('/api/v1/nothing-here')
    expect(route.status).toBe(404)
    expect((await node.api(`/api/v1/crdt/nope`, { method: 'DELETE', headers: auth })).status).toBe(404)
  })

  it('streams store changes as server-sent events', async () => {
    const controller = new AbortController()
    const res = await fetch(`${node.apiUrl}/api/v1/events`, { signal: controller.signal })
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    await node.api('/api/v1/crdt', { method: 'POST', headers: auth, body: JSON.stringify({ key: 'sse/k', value: 7 }) })
    let text = ''
    while (!text.includes('sse/k')) text += new TextDecoder().decode((await reader.read()).value)
    controller.abort()
    const { peerId } = (await node.api<{ peerId: string }>('/api/v1/identity')).body
    // keys, not values: a client fetches what it wants
    expect(text).toContain(`event: store\ndata: {"key":"sse/k","origin":"local","author":"${peerId}"}`)
  })

  it('sends no CORS headers', async () => {
    const res = await fetch(`${node.apiUrl}/api/v1/crdt`, { headers: { origin: 'http://evil.example' } })
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('serves the OpenAPI document and Swagger UI', async () => {
    const { status, body } = await node.api<{ openapi: string, paths: Record<string, unknown> }>('/openapi.json')
    expect(status).toBe(200)
    expect(body.openapi).toMatch(/^3\./)
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(['/api/v1/crdt', '/api/v1/crdt/{key}', '/api/v1/peers', '/api/v1/identity', '/health']))
    const ui = await fetch(`${node.apiUrl}/swagger/`)
    expect(ui.status).toBe(200)
    expect(await ui.text()).toContain('swagger-ui')
  })
})
