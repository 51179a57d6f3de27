import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { CreateLibp2pOptions, HeliaWithLibp2p } from '@helia/libp2p'
import type { Router } from '@helia/interface'
import type { Libp2p, ServiceMap } from '@libp2p/interface'
import type { Helia, HeliaInit } from 'helia'
import { createLibp2p } from 'libp2p'

/**
 * `createHeliaLight` and `withLibp2pLight`, without loading the packages' entry points.
 *
 * Why: 'helia' and '@helia/libp2p' import their default libp2p stack when loaded (WebRTC,
 * WebSockets, AutoTLS, UPnP, mDNS, delegated routing…) even when only their light functions are
 * called. That is ~35 MB of RSS on every node for code a DistroMash node never runs, and it was
 * what forced `--optimize-for-size` on the launcher, which made block transfers 3× as costly in
 * CPU. So we load the two files holding what we use, Helia's node class and its libp2p router,
 * by path; behaviour and types stay the packages' own.
 */
const { Helia: HeliaNode } = await importPackageFile<{ Helia: new (init: HeliaInit & { name: string, version: string }) => Helia }>('helia', 'dist/src/helia.js')
const { version } = await importPackageFile<{ version: string }>('helia', 'dist/src/version.js')
const { libp2pRouting } = await importPackageFile<{ libp2pRouting: (libp2p: Libp2p) => Router }>('@helia/libp2p', 'dist/src/routing.js')

/** The parts of Helia's node class a mixin uses (public methods of the class, not of the interface) */
interface Extensible {
  addMixin(mixin: { name: string, start: (helia: Extensible) => Promise<void>, stop: () => Promise<void> }): void
  hasRouter(name: string): boolean
  addRouter(router: Router): void
}

export function createHeliaLight (init: Partial<HeliaInit>): Helia {
  return new HeliaNode({ name: 'helia', version, ...init })
}

/** As @helia/libp2p's withLibp2pLight: the given libp2p config, Helia's datastore, libp2p as a router */
export function withLibp2pLight<M extends ServiceMap> (helia: Helia, options: CreateLibp2pOptions<M>): HeliaWithLibp2p<M> {
  let libp2p: Libp2p<M> | undefined
  Object.defineProperty(helia, 'libp2p', {
    configurable: true,
    enumerable: true,
    get () {
      if (libp2p == null) throw new Error('start Helia before using its libp2p')
      return libp2p
    }
  })
  const node = helia as unknown as Extensible
  node.addMixin({
    name: 'libp2p',
    start: async () => {
      libp2p ??= await createLibp2p<M>({ datastore: helia.datastore, ...options })
      if (!node.hasRouter('libp2p-router')) node.addRouter(libp2pRouting(libp2p))
      await libp2p.start()
    },
    stop: async () => { await libp2p?.stop() }
  })
  return helia as HeliaWithLibp2p<M>
}

async function importPackageFile<T> (pkg: string, file: string): Promise<T> {
  // resolve.paths lists the node_modules folders Node would search; the export maps stop a
  // deep import by name, not by path
  for (const dir of createRequire(import.meta.url).resolve.paths(pkg) ?? []) {
    const path = join(dir, pkg, file)
    if (existsSync(path)) return await import(pathToFileURL(path).href) as T
  }
  throw new Error(`cannot find ${pkg}/${file}`)
}
