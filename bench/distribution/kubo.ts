import { KuboDaemon } from '../../test/helpers/kubo.js'
import type { LanHost } from '../../test/helpers/netns.js'

/**
 * --kubo: the reference IPFS implementation doing the mesh's job on the same shaped links. A Kubo
 * daemon per host, in the same private network (the bench's swarm key), every pair connected as
 * the mesh's nodes are; the first host adds the image's OCI layout (untimed, the flags that give
 * our CIDs), the others then pin it at once, over bitswap. A pin ends when its host holds every
 * block: nothing is loaded into an engine, so Kubo's time leaves out what the mesh's includes.
 */
export interface KuboSwarm {
  cid: string
  /** Every host pins the image; resolves with each host's seconds from the start */
  pinEverywhere: () => Promise<number[]>
  stop: () => Promise<void>
}

// beside the node (4001) on each host
const SWARM_PORT = 4101
const PIN_TIMEOUT_MS = 30 * 60_000

export async function startKuboSwarm (hosts: LanHost[], layout: string, swarmKey: string): Promise<KuboSwarm> {
  const daemons: KuboDaemon[] = []
  const stop = async (): Promise<void> => { await Promise.all(daemons.map(async k => { await k.destroy() })) }
  try {
    for (const host of hosts) {
      const kubo = await KuboDaemon.init({
        swarmKey,
        listen: `/ip4/${host.ip}/tcp/${SWARM_PORT}`,
        env: { LIBP2P_FORCE_PNET: '1' },
        wrap: ['nsenter', `--net=/run/netns/${host.name}`, '--']
      })
      daemons.push(kubo)
      // Kubo sends its wants only to peers it deems local (private ranges) or peered, then waits
      // for the DHT; the bench's 198.18.0.0/15 is neither, so on a real LAN Kubo would broadcast:
      // it does here too
      await kubo.ipfs(['config', '--json', 'Internal.Bitswap.BroadcastControl.Enable', 'false'])
      await kubo.startDaemon()
    }
    for (const [i, kubo] of daemons.entries()) {
      for (const [j, other] of daemons.entries()) {
        if (j > i) await kubo.ipfs(['swarm', 'connect', `/ip4/${(hosts[j] as LanHost).ip}/tcp/${SWARM_PORT}/p2p/${other.peerId}`])
      }
    }
    const [seed, ...pullers] = daemons as [KuboDaemon, ...KuboDaemon[]]
    const cid = (await seed.ipfs(['add', '-r', '-Q', '--cid-version=1', '--raw-leaves', layout], { timeoutMs: 10 * 60_000 })).trim()
    const pinEverywhere = async (): Promise<number[]> => {
      const start = performance.now()
      return await Promise.all(pullers.map(async kubo => {
        await kubo.ipfs(['pin', 'add', '--progress=false', cid], { timeoutMs: PIN_TIMEOUT_MS })
        return (performance.now() - start) / 1000
      }))
    }
    return { cid, pinEverywhere, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
