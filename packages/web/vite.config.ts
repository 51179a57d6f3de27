import { defineConfig } from 'vite'

// No React plugin: esbuild compiles TSX with the automatic runtime, which is all this app needs.
// `npm run dev -w @distromash/web` proxies the API to a node on :3000 (DISTROMASH_API to change).
const api = process.env.DISTROMASH_API ?? 'http://127.0.0.1:3000'

export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic' },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022' },
  server: {
    proxy: {
      '/api': { target: api, changeOrigin: false },
      '/health': api,
      '/swagger': api,
      '/openapi.json': api
    }
  }
})
