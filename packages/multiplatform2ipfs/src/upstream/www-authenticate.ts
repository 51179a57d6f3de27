export interface Challenge {
  scheme: string
  params: Record<string, string>
}

// one auth-param: key=token or key="quoted string" (commas allowed inside quotes, e.g. in scope)
const PARAM = /\s*([a-zA-Z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/y

/**
 * Parses the first challenge of a `WWW-Authenticate` header, e.g.
 * `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"`.
 */
export function parseChallenge (header: string | null): Challenge | undefined {
  const match = header?.trim().match(/^([A-Za-z]+)(?:\s+(.*))?$/s)
  if (match?.[1] === undefined) {
    return undefined
  }
  const params: Record<string, string> = {}
  const rest = match[2] ?? ''
  PARAM.lastIndex = 0
  let param: RegExpExecArray | null
  while (PARAM.lastIndex < rest.length && (param = PARAM.exec(rest)) !== null) {
    const key = param[1]?.toLowerCase() ?? ''
    params[key] = param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : (param[3] ?? '')
  }
  return { scheme: match[1].toLowerCase(), params }
}
