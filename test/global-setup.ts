import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Every test file's scratch directories (mkdtemp under os.tmpdir()) go into one directory per
 * run, removed at the end, so nodes' data dirs do not pile up in /tmp even when a test fails
 * before its own cleanup. Test workers are forked after this runs and inherit TMPDIR.
 */
export async function setup (): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'dm-test-run-'))
  process.env.TMPDIR = dir
  return async () => { await rm(dir, { recursive: true, force: true }) }
}
