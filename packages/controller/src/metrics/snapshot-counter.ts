import { Counter, type Registry } from 'prom-client'

/** One labelled value of a counter read from a snapshot */
export type Sample<L extends string> = [labels: Partial<Record<L, string>>, value: number]

/**
 * A Prometheus counter whose values are read at scrape time from counters kept elsewhere (the
 * mesh node's plain counters, which only grow while the process lives). prom-client counters
 * only increment; so at each collect the series are cleared and set to the current values.
 */
export function snapshotCounter<L extends string> (registry: Registry, name: string, help: string, labelNames: readonly L[], read: () => Array<Sample<L>>): void {
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect () {
      this.reset()
      for (const [labels, value] of read()) this.inc(labels, value)
    }
  })
}
