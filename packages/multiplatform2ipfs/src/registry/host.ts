import { isIP } from 'node:net'

/**
 * DNS rebinding defence for servers on loopback: a page on a hostile domain that resolves the
 * domain to 127.0.0.1 reaches the server, but its requests carry that domain in Host. Only IP
 * literals, localhost and the names configured are accepted; the port is ignored. (The same
 * rule as webpack-dev-server's allowedHosts and Vite's server.allowedHosts.)
 */
export function hostAllowed (host: string | undefined, names: ReadonlySet<string>): boolean {
  if (host == null || host === '') return false
  const name = hostName(host).toLowerCase()
  return name === 'localhost' || name.endsWith('.localhost') || isIP(name) !== 0 || names.has(name)
}

/** `[::1]:5005` → `::1`, `example:80` → `example` */
function hostName (host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') < 0 ? undefined : host.indexOf(']'))
  const colon = host.indexOf(':')
  return colon < 0 || host.indexOf(':', colon + 1) >= 0 ? host : host.slice(0, colon)
}
