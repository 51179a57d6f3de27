import { CID } from 'multiformats/cid'
import { imageRecordSchema, parseReference, type ImageReference } from '@distromash/multiplatform2ipfs'
import { z } from 'zod'
import type { ImportJob, ImportJobs } from '../images/jobs.js'
import { ApiError, ForbiddenError, NotFoundError } from './errors.js'
import { Reply, type ApiRouter } from './route.js'

export interface ImagesDeps {
  jobs: ImportJobs
  /** Every image the mesh knows (the catalog in the replicated store) */
  images: () => Promise<unknown[]>
  /** Pin a DAG on this node, fetching missing blocks from the mesh */
  pin: (cid: CID, signal: AbortSignal) => Promise<void>
  /** This node's pins and the images (or imports, pushes, API calls) holding them */
  pins: () => Promise<Array<{ cid: string, owners: string[] }>>
  /** Why this node may not publish an image name for the mesh (not a writer), or undefined */
  denies: () => string | undefined
}

const JobSchema = z.object({
  id: z.string(), image: z.string(), state: z.enum(['running', 'done', 'failed']),
  bytesDone: z.number(), bytesTotal: z.number(), cid: z.string().optional(), digest: z.string().optional(),
  platforms: z.array(z.string()).optional(), error: z.string().optional(), errorName: z.string().optional(), createdAt: z.string(), finishedAt: z.string().optional()
}).openapi('ImportJob')

const ImportBody = z.object({
  name: z.string().min(1).max(512).openapi({ example: 'busybox' }),
  tag: z.string().max(128).optional().openapi({ example: '1.35.0', description: 'default latest; may also be given in name' }),
  platforms: z.array(z.string().max(64).regex(/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/i, 'expected os/architecture[/variant], e.g. linux/arm64/v8')).max(16).optional()
    .openapi({ example: ['linux/amd64'], description: 'default: every platform' })
}).openapi('ImportRequest')

const ImportQuery = z.object({
  wait: z.enum(['true', 'false']).optional().openapi({ description: 'block until the import ends and answer {name, tag, cid} (DistroMash style)' })
})

// a copy made here: multiplatform2ipfs builds its schema before zod is extended with .openapi
const ImageRecordSchema = z.object(imageRecordSchema.shape).openapi('ImageRecord', { description: 'A name:tag of the mesh and the image it names' })

const PIN_TIMEOUT_MS = 120_000

export function imageRoutes (deps: ImagesDeps): (api: ApiRouter) => void {
  return api => {
    api.add({
      method: 'post', path: '/api/v1/image', tag: 'images', summary: 'Import an image (every platform) from the upstream registry into IPFS',
      body: ImportBody, query: ImportQuery,
      responses: {
        202: { description: 'Import job started (or joined)', schema: JobSchema },
        200: { description: 'With wait=true: the imported image' },
        403: { description: 'This node is not a writer: it may not publish an image name for the mesh' },
        404: { description: 'With wait=true: the upstream has no such image or platform' },
        502: { description: 'With wait=true: the upstream failed or could not be reached' }
      },
      handler: async ({ body, query }) => {
        const denied = deps.denies()
        if (denied != null) throw new ForbiddenError(`this node may not publish an image for the mesh: ${denied}`)
        const job = deps.jobs.start(toReference(body.name, body.tag), body.platforms)
        if (query.wait !== 'true') return new Reply(202, job)
        return waited(await deps.jobs.wait(job.id) ?? job)
      }
    })
    api.add({
      method: 'get', path: '/api/v1/jobs', tag: 'images', summary: 'Import jobs, newest first',
      responses: { 200: { description: 'Jobs', schema: z.array(JobSchema) } },
      handler: async () => deps.jobs.list()
    })
    api.add({
      method: 'get', path: '/api/v1/jobs/{id}', tag: 'images', summary: 'One import job: state, bytes done/total, CID or error',
      params: z.object({ id: z.string().uuid() }),
      responses: { 200: { description: 'The job', schema: JobSchema }, 404: { description: 'Unknown job' } },
      handler: async ({ params }) => deps.jobs.get(params.id) ?? notFound(`no job ${params.id}`)
    })
    api.add({
      method: 'get', path: '/api/v1/images', tag: 'images', summary: 'Images known to the mesh (name:tag → CID and metadata)',
      responses: { 200: { description: 'Image records', schema: z.array(ImageRecordSchema) } },
      handler: async () => deps.images()
    })
    api.add({
      method: 'get', path: '/api/v1/pins', tag: 'images', summary: 'This node\'s pins and what holds each',
      responses: { 200: { description: 'Pins', schema: z.array(z.object({ cid: z.string(), owners: z.array(z.string()) })) } },
      handler: async () => deps.pins()
    })
    api.add({
      method: 'post', path: '/api/v1/pin/{cid}', tag: 'images', summary: 'Pin a CID on this node (fetches missing blocks from peers)',
      params: z.object({ cid: z.string().min(1).max(256) }),
      responses: { 200: { description: 'Pinned', schema: z.object({ cid: z.string(), pinned: z.boolean() }) }, 504: { description: 'Blocks could not be fetched in time' } },
      handler: async ({ params }) => {
        const cid = parseCid(params.cid)
        try {
          await deps.pin(cid, AbortSignal.timeout(PIN_TIMEOUT_MS))
        } catch (err) {
          if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError') throw new ApiError(504, 'PIN_TIMEOUT', `could not fetch ${params.cid} from the mesh in time`)
          throw err
        }
        return { cid: cid.toString(), pinned: true }
      }
    })
  }
}

function toReference (name: string, tag?: string): ImageReference {
  const text = tag != null && tag !== '' ? `${name}:${tag}` : name
  try {
    return parseReference(text)
  } catch (err) {
    throw new ApiError(400, 'VALIDATION', (err as Error).message, tag != null && !/^[\w][\w.-]{0,127}$/.test(tag) ? 'tag' : 'name')
  }
}

function parseCid (text: string): CID {
  try {
    return CID.parse(text)
  } catch {
    throw new ApiError(400, 'VALIDATION', `not a CID: "${text}"`, 'cid')
  }
}

/** A failed import by why it failed: the client's mistake, an image the upstream does not have, or the upstream itself */
const IMPORT_FAILURES: Record<string, [number, string]> = {
  InvalidReferenceError: [400, 'VALIDATION'],
  InvalidPlatformError: [400, 'VALIDATION'],
  NotFoundError: [404, 'NOT_FOUND'],
  PlatformNotFoundError: [404, 'NOT_FOUND'],
  UnauthorizedWriteError: [403, 'FORBIDDEN']
}

function waited (job: ImportJob): Reply {
  if (job.state === 'failed') {
    const [status, code] = IMPORT_FAILURES[job.errorName ?? ''] ?? [502, 'IMPORT_FAILED']
    throw new ApiError(status, code, job.error ?? 'import failed')
  }
  const [name, tag] = splitNameTag(job.image)
  return new Reply(200, { name, tag, cid: job.cid, digest: job.digest, platforms: job.platforms })
}

function splitNameTag (image: string): [string, string] {
  const at = image.lastIndexOf(':')
  return at > image.lastIndexOf('/') ? [image.slice(0, at), image.slice(at + 1)] : [image, 'latest']
}

function notFound (message: string): never {
  throw new NotFoundError(message)
}
