import { describe, expect, test } from "../support/test.ts"
import {
  base64ToVector,
  blobToVector,
  normalizeInPlace,
  vectorToBase64,
  vectorToBlob,
  VectorTable
} from "../../src/knowledge/vectors.ts"
import { seeded } from "../support/seeded.ts"

const randomVector = (dims: number, seed: number) => {
  const next = seeded(seed)
  return Float32Array.from({ length: dims }, () => next() - 0.5)
}

describe("vectors", () => {
  test("blobs are float32 little-endian and round-trip; base64 matches OpenAI's encoding", () => {
    const v = Float32Array.from([1, -2.5, 0.125])
    const blob = vectorToBlob(v)
    expect([...blob.subarray(0, 4)]).toEqual([0x00, 0x00, 0x80, 0x3f]) // 1.0f little-endian
    expect([...blobToVector(blob)]).toEqual([1, -2.5, 0.125])
    // an unaligned view (as a driver may hand back) still decodes
    const shifted = new Uint8Array(blob.length + 1)
    shifted.set(blob, 1)
    expect([...blobToVector(shifted.subarray(1))]).toEqual([1, -2.5, 0.125])
    expect(vectorToBase64(v)).toBe(Buffer.from(blob).toString("base64"))
    expect([...base64ToVector(vectorToBase64(v))]).toEqual([1, -2.5, 0.125])
  })

  test("the SIMD table scores like the JavaScript loop, and falls back when dims are not a multiple of 16", () => {
    for (const dims of [1536, 16, 20]) {
      const rows = 37
      const simd = VectorTable.make(rows, dims)
      const plain = VectorTable.make(rows, dims, { simd: false })
      for (let r = 0; r < rows; r++) {
        const blob = vectorToBlob(randomVector(dims, r + 1))
        simd.setRowFromBlob(r, blob)
        plain.setRowFromBlob(r, blob)
      }
      expect(simd.simd).toBe(dims % 16 === 0)
      expect(plain.simd).toBe(false)
      const query = randomVector(dims, 999)
      normalizeInPlace(query)
      const a = [...simd.scores(query)]
      const b = [...plain.scores(query)]
      a.forEach((x, i) => expect(x).toBeCloseTo(b[i]!, 5))
      expect(simd.score(3, query)).toBeCloseTo(b[3]!, 5)
      // rows are unit vectors: self-similarity is 1
      const row0 = simd.matrix.slice(0, dims)
      expect(simd.scores(row0)[0]!).toBeCloseTo(1, 5)
    }
  })

  test("an empty table scores nothing", () => {
    expect(VectorTable.make(0, 1536).scores(new Float32Array(1536))).toHaveLength(0)
  })
})
