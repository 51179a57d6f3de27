/**
 * Runs `fn` over `items` with at most `limit` at a time. On the first failure the others are
 * aborted, and it rejects only after all have settled, so nothing keeps writing after we return.
 */
export async function forEachLimit<T> (items: T[], limit: number, fn: (item: T, signal: AbortSignal) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const controller = new AbortController()
  const combined = signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal])
  let next = 0
  let failure: { error: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === undefined) {
      const item = items[next++] as T
      try {
        combined.throwIfAborted()
        await fn(item, combined)
      } catch (error) {
        failure ??= { error }
        controller.abort(error)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  if (failure !== undefined) {
    throw failure.error
  }
}
