import { InvalidPlatformError } from './errors.js'

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

const PART = /^[a-z0-9_.-]+$/

/** Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`. */
export function parsePlatform (value: string): Platform {
  const parts = value.trim().toLowerCase().split('/')
  if (parts.length < 2 || parts.length > 3 || !parts.every(part => PART.test(part))) {
    throw new InvalidPlatformError(`invalid platform "${value}": expected os/architecture[/variant], e.g. linux/arm64/v8`)
  }
  const [os = '', architecture = '', variant] = parts
  return variant === undefined ? { os, architecture } : { os, architecture, variant }
}

export function formatPlatform (platform: Platform): string {
  const base = `${platform.os}/${platform.architecture}`
  return platform.variant === undefined || platform.variant === '' ? base : `${base}/${platform.variant}`
}

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', i386: '386', armhf: 'arm', armel: 'arm' }
const IMPLIED_VARIANT: Record<string, string> = { armhf: 'v7', armel: 'v6' }
// the variant each architecture has when none is given (containerd's normalisation)
const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', arm: 'v7', amd64: 'v1' }

/** Normalises aliases and makes default variants explicit, so `linux/arm64` equals `linux/arm64/v8`. */
export function normalizePlatform (platform: Platform): Required<Platform> {
  const raw = platform.architecture.toLowerCase()
  const architecture = ARCH_ALIASES[raw] ?? raw
  let variant = platform.variant?.toLowerCase() ?? IMPLIED_VARIANT[raw] ?? DEFAULT_VARIANT[architecture] ?? ''
  if (/^[0-9]+$/.test(variant)) {
    variant = `v${variant}`
  }
  return { os: platform.os.toLowerCase(), architecture, variant }
}

/**
 * True when `candidate` satisfies `wanted`. A filter without a variant accepts any variant
 * (`linux/arm` takes v6 or v7); with one, normalised variants must be equal.
 */
export function platformMatches (wanted: Platform, candidate: Platform): boolean {
  const w = normalizePlatform(wanted)
  const c = normalizePlatform(candidate)
  if (w.os !== c.os || w.architecture !== c.architecture) {
    return false
  }
  return wanted.variant === undefined || w.variant === c.variant
}
