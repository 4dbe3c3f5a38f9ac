// SHA-256 in hex, without loading node:crypto where Bun's own hasher is at hand: node:crypto loads
// node:stream, about 4 ms of every checkpoint tick's start-up in the compiled binary (measured,
// issue #29). Under Node (the unit tests) it is node:crypto's, the same digest.

interface BunHasher {
  SHA256: { hash(data: string | Uint8Array, encoding: 'hex'): string };
}

export function sha256Hex(data: string | Uint8Array): string {
  const bun = (globalThis as { Bun?: BunHasher }).Bun;
  if (bun) return bun.SHA256.hash(data, 'hex');
  const { createHash } = process.getBuiltinModule('node:crypto');
  return createHash('sha256').update(data).digest('hex');
}
