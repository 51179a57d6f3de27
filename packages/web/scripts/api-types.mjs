// The dashboard's API types, generated from the OpenAPI document the controller builds from its
// route registrations (the same document a node serves at /openapi.json). Used by gen-api.mjs and
// by test/api-types.test.ts, so both produce the same text.
import openapiTS, { astToString } from 'openapi-typescript'

export const API_TYPES_HEADER = `// Generated from the DistroMash API's OpenAPI document by \`npm run gen:api -w @distromash/web\`
// (packages/web/scripts/gen-api.mjs); do not edit. src/api/types.ts names the shapes the dashboard uses.
`

/** TypeScript declarations of a document's paths and schemas, deterministic for one document */
export async function apiTypes (document) {
  // info.version changes with every release and says nothing about shapes
  const ast = await openapiTS({ ...document, info: { ...document.info, version: '' } }, { alphabetize: false, exportType: false })
  return API_TYPES_HEADER + '\n' + astToString(ast)
}
