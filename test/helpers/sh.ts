import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const execFileP = promisify(execFile)

export interface ExecResult { stdout: string, stderr: string }

/** Run a command in the root namespace; rejects with its stderr */
export async function sh (cmd: string, args: string[]): Promise<ExecResult> {
  try {
    return await execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024 })
  } catch (err) {
    const e = err as Error & { stderr?: string }
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() ?? e.message}`)
  }
}
