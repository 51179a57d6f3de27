import { create, type KuboRPCClient } from 'kubo-rpc-client'
import type { CID } from 'multiformats/cid'
import { carWriter } from './car-writer.js'
import {
  ContentUnavailableError, InvalidBlockError,
  type AbortOptions, type BlockWriter, type Content, type ContentStat, type FetchOptions, type FetchResult, type GetOptions, type Pinned, type PinOptions, type PutOptions
} from './content.js'
import { checkBlock } from './verify.js'

export interface KuboContentInit {
  /** Kubo's RPC API, e.g. http://127.0.0.1:5001 */
  url: string
}

/** A Kubo RPC error answer: Kubo was reached and refused the call */
export class KuboRequestError extends Error {
  override name = 'KuboRequestError'
}

/**
 * Content in a Kubo daemon beside the node, through its RPC API (kubo-rpc-client). Kubo fetches
 * missing blocks over its own bitswap, from DistroMash nodes and other Kubos alike, and
 * announces what it holds itself. Every block that comes back from Kubo is hashed against its
 * CID, and every block sent to it is hashed before it goes.
 */
export function kuboContent (init: KuboContentInit): Content {
  return new KuboContent(init)
}

const CODECS: Record<number, string> = { 0x55: 'raw', 0x70: 'dag-pb', 0x71: 'dag-cbor', 0x0129: 'dag-json' }

class KuboContent implements Content {
  readonly backend
  private readonly client: KuboRPCClient
  private readonly base: string

  constructor (init: KuboContentInit) {
    this.base = init.url.replace(/\/+$/, '')
    this.backend = { kind: 'kubo' as const, url: this.base, description: `kubo ${this.base}` }
    this.client = create({ url: `${this.base}/api/v0` })
  }

  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const bytes = await this.call(async () => await this.client.block.get(cid, { signal: options.signal }), options)
    try {
      await checkBlock(cid, bytes)
    } catch (err) {
      throw new InvalidBlockError(`Kubo at ${this.base} answered block ${cid.toString()} with other bytes: ${(err as Error).message}`)
    }
    return bytes
  }

  async has (cid: CID, options: AbortOptions = {}): Promise<boolean> {
    try {
      // offline: a stat of a block Kubo lacks would otherwise go looking for it on the network
      await this.call(async () => await this.client.block.stat(cid, { signal: options.signal, offline: true } as Parameters<KuboRPCClient['block']['stat']>[1]), options)
      return true
    } catch (err) {
      if (err instanceof KuboRequestError && /not found/i.test(err.message)) return false
      throw err
    }
  }

  async put (cid: CID, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    if (options.hashed !== true) await checkBlock(cid, bytes)
    const codec = CODECS[cid.code]
    if (codec == null) throw new InvalidBlockError(`block ${cid.toString()}: codec 0x${cid.code.toString(16)} is not stored in Kubo by this node`)
    const put = { signal: options.signal, 'cid-codec': codec, mhtype: 'sha2-256', allowBigBlock: true } as unknown as Parameters<KuboRPCClient['block']['put']>[1]
    const stored = await this.call(async () => await this.client.block.put(bytes, put), options)
    // Kubo names the block itself: it must be the same block
    if (!sameBlock(stored, cid)) throw new InvalidBlockError(`Kubo stored ${cid.toString()} as ${stored.toString()}`)
  }

  /** One `dag import` of a CAR streamed as the blocks come: one request however many blocks */
  writer (options: PutOptions = {}): BlockWriter {
    return carWriter(async (car, signal) => {
      await this.call(async () => {
        for await (const _ of this.client.dag.import([car], { pinRoots: false, signal })) { /* roots: none pinned */ }
      }, { signal })
    }, { hashed: options.hashed, has: async (cid, has) => await this.has(cid, has) })
  }

  /** Kubo fetches while it pins, over its own bitswap: nothing to bring ahead */
  async fetch (_roots: CID[], options: FetchOptions = {}): Promise<FetchResult> {
    options.signal?.throwIfAborted()
    options.onStarted?.()
    return { overBitswap: 0 }
  }

  async pin (cid: CID, options: PinOptions = {}): Promise<void> {
    if ((options.depth ?? Infinity) === 0) {
      await this.call(async () => await this.client.pin.add(cid, { recursive: false, signal: options.signal }), options).catch((err: Error) => {
        // a block held by a recursive pin is held already
        if (!(err instanceof KuboRequestError && /already pinned recursively/.test(err.message))) throw err
      })
      return
    }
    // kubo-rpc-client's pin.add has no progress; its ndjson answer is read here ({"Progress":n} … {"Pins":[…]})
    await this.call(async () => {
      const res = await fetch(`${this.base}/api/v0/pin/add?arg=${cid.toString()}&recursive=true&progress=true`, { method: 'POST', signal: options.signal })
      if (!res.ok) throw new KuboRequestError(await kuboMessage(res))
      let pinned = false
      for await (const line of ndjson(res)) {
        if (typeof line.Progress === 'number') options.onProgress?.(line.Progress)
        if (Array.isArray(line.Pins)) pinned = true
        if (typeof line.Message === 'string') throw new KuboRequestError(line.Message)
      }
      if (!pinned) throw new KuboRequestError(`Kubo ended pin/add of ${cid.toString()} without pinning it: ${res.headers.get('x-stream-error') ?? 'no reason given'}`)
    }, options)
  }

  async unpin (cid: CID, options: AbortOptions = {}): Promise<void> {
    await this.call(async () => await this.client.pin.rm(cid, { signal: options.signal }), options).catch((err: Error) => {
      if (!(err instanceof KuboRequestError && /not pinned/.test(err.message))) throw err
    })
  }

  async * pinned (options: AbortOptions = {}): AsyncGenerator<Pinned> {
    for (const type of ['recursive', 'direct'] as const) {
      const pins = await this.call(async () => {
        const out: Pinned[] = []
        for await (const pin of this.client.pin.ls({ type, signal: options.signal })) out.push({ cid: pin.cid, depth: type === 'recursive' ? Infinity : 0 })
        return out
      }, options)
      yield * pins
    }
  }

  async isPinned (cid: CID, options: AbortOptions = {}): Promise<boolean> {
    for (const type of ['recursive', 'direct'] as const) {
      try {
        const found = await this.call(async () => {
          for await (const _ of this.client.pin.ls({ paths: cid, type, signal: options.signal })) return true
          return false
        }, options)
        if (found) return true
      } catch (err) {
        if (!(err instanceof KuboRequestError && /not pinned/.test(err.message))) throw err
      }
    }
    return false
  }

  async stat (options: AbortOptions = {}): Promise<ContentStat> {
    // size-only: counting objects walks the whole repo
    const stat = await this.call(async () => await this.client.repo.stat({ signal: options.signal, sizeOnly: true } as Parameters<KuboRPCClient['repo']['stat']>[0]), options)
    return { bytes: Number(stat.repoSize) }
  }

  /** Kubo's own error answers become KuboRequestError; failing to reach it, ContentUnavailableError */
  private async call<T> (fn: () => Promise<T>, options: AbortOptions): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      const e = err as Error & { response?: Response }
      if (options.signal?.aborted === true) throw options.signal.reason ?? err
      if (e.name === 'AbortError' || e.name === 'TimeoutError' || err instanceof KuboRequestError || err instanceof InvalidBlockError) throw err
      if (e.name === 'HTTPError') throw new KuboRequestError(e.message)
      throw new ContentUnavailableError(`Kubo API at ${this.base} is unreachable: ${causeOf(e)}`)
    }
  }
}

function sameBlock (a: CID, b: CID): boolean {
  return a.code === b.code && Buffer.compare(a.multihash.bytes, b.multihash.bytes) === 0
}

function causeOf (err: Error & { cause?: unknown }): string {
  const cause = err.cause as (Error & { code?: string }) | undefined
  return cause?.code ?? cause?.message ?? err.message
}

async function kuboMessage (res: Response): Promise<string> {
  const text = await res.text()
  try {
    return (JSON.parse(text) as { Message?: string }).Message ?? text
  } catch {
    return text.slice(0, 300) || `HTTP ${res.status}`
  }
}

async function * ndjson (res: Response): AsyncGenerator<Record<string, unknown>> {
  if (res.body == null) return
  const decoder = new TextDecoder()
  let buffered = ''
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true })
    let newline
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim()
      buffered = buffered.slice(newline + 1)
      if (line !== '') yield JSON.parse(line) as Record<string, unknown>
    }
  }
  if (buffered.trim() !== '') yield JSON.parse(buffered) as Record<string, unknown>
}
