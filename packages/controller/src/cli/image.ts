import { parseArgs } from 'node:util'

/** `distromash image add <ref>`: import through a running node's API, with a progress bar. */
interface Job { id: string, state: string, bytesDone: number, bytesTotal: number, cid?: string, error?: string }

export async function imageCommand (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { api: { type: 'string' }, 'api-token': { type: 'string' }, platform: { type: 'string', multiple: true } }
    })
  } catch (err) {
    return fail(2, (err as Error).message.split('\n')[0] ?? 'invalid arguments')
  }
  const [verb, ref, ...extra] = parsed.positionals
  if (verb !== 'add' || ref == null || extra.length > 0) return fail(2, 'usage: distromash image add <image[:tag]> [--api URL] [--api-token T] [--platform os/arch]...')
  const api = (parsed.values.api ?? process.env.DISTROMASH_API_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '')
  const token = parsed.values['api-token'] ?? process.env.DISTROMASH_API_TOKEN
  try {
    return await add(api, token, ref, parsed.values.platform)
  } catch (err) {
    // fetch() reports network failures as "fetch failed" with the reason in its cause
    if ((err as Error).message === 'fetch failed') return fail(1, `no node API at ${api} (is the node running?)`)
    return fail(1, (err as Error).message)
  }
}

async function add (api: string, token: string | undefined, ref: string, platforms?: string[]): Promise<number> {
  const headers = { 'content-type': 'application/json', ...(token != null ? { authorization: `Bearer ${token}` } : {}) }
  const res = await fetch(`${api}/api/v1/image`, { method: 'POST', headers, body: JSON.stringify({ name: ref, platforms }) })
  const body = await res.json() as unknown
  if (res.status !== 202) return fail(res.status < 500 ? 2 : 1, (body as { error?: { message?: string } }).error?.message ?? `HTTP ${res.status}`)
  let job = body as Job
  const bar = new ProgressBar(ref)
  while (job.state === 'running') {
    await new Promise(resolve => setTimeout(resolve, 200))
    job = await (await fetch(`${api}/api/v1/jobs/${job.id}`)).json() as Job
    bar.draw(job.bytesDone, job.bytesTotal)
  }
  bar.end()
  if (job.state !== 'done' || job.cid == null) return fail(1, `import of ${ref} failed: ${job.error ?? job.state}`)
  process.stdout.write(`${job.cid}\n`)
  return 0
}

class ProgressBar {
  private readonly tty = process.stderr.isTTY
  constructor (private readonly label: string) {}

  draw (done: number, total: number): void {
    if (!this.tty) return
    const width = 30
    const ratio = total > 0 ? Math.min(done / total, 1) : 0
    const filled = Math.round(ratio * width)
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${mib(done)}/${mib(total)} MiB`)
  }

  end (): void {
    if (this.tty) process.stderr.write('\n')
  }
}

function mib (bytes: number): string {
  return (bytes / 1048576).toFixed(1)
}

function fail (code: number, message: string): number {
  console.error(`distromash: ${message}`)
  return code
}
