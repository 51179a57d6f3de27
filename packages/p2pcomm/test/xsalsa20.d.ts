declare module 'xsalsa20' {
  interface Cipher { update (input: Uint8Array, output?: Uint8Array): Uint8Array, finalize (): void }
  export default function xsalsa20 (nonce: Uint8Array, key: Uint8Array): Cipher
  export function xsalsa20Js (nonce: Uint8Array, key: Uint8Array): Cipher
  export const implementation: 'libsodium' | 'noble'
}
