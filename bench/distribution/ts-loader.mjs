// Module hooks that let Node 20 import TypeScript: esbuild strips the types (no type check;
// `npx vitest` and the editor do that), and './x.js' specifiers fall back to './x.ts', the
// convention of this repository's sources.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { transform } from 'esbuild'

export async function resolve (specifier, context, next) {
  try {
    return await next(specifier, context)
  } catch (err) {
    const relative = specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:')
    if (!relative || !specifier.endsWith('.js') || err?.code !== 'ERR_MODULE_NOT_FOUND') throw err
    return next(specifier.slice(0, -3) + '.ts', context)
  }
}

export async function load (url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context)
  const path = fileURLToPath(url)
  const { code } = await transform(await readFile(path, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20', sourcefile: path, sourcemap: 'inline' })
  return { format: 'module', source: code, shortCircuit: true }
}
