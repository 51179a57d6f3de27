/**
 * The disk cannot take more blocks: the file system is full (ENOSPC) or the node's disk budget
 * (--max-disk) is used up. The node stays up; writes succeed again once space returns.
 */
export class DiskFullError extends Error {
  static readonly NAME = 'DiskFullError'
  override name = DiskFullError.NAME
}

/** ENOSPC and EDQUOT: the file system or the user's quota has no room left */
export function isNoSpace (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}
