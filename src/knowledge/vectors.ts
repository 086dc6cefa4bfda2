/** Float32 vectors: storage as little-endian blobs, base64 decoding, normalisation, dot products. */

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** A vector as a float32 little-endian blob (what `knowledge_chunks.embedding` holds). */
export const vectorToBlob = (vector: Float32Array): Uint8Array => {
  if (HOST_IS_LITTLE_ENDIAN) return new Uint8Array(vector.buffer.slice(vector.byteOffset, vector.byteOffset + vector.byteLength))
  const bytes = new Uint8Array(vector.length * 4)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i]!, true)
  return bytes
}

/** Read a float32 little-endian blob into `target` at `offset` (or a new vector). */
export const blobToVector = (
  blob: Uint8Array,
  target: Float32Array = new Float32Array(blob.byteLength >>> 2),
  offset = 0
): Float32Array => {
  const length = blob.byteLength >>> 2
  if (HOST_IS_LITTLE_ENDIAN && blob.byteOffset % 4 === 0) {
    target.set(new Float32Array(blob.buffer, blob.byteOffset, length), offset)
  } else {
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength)
    for (let i = 0; i < length; i++) target[offset + i] = view.getFloat32(i * 4, true)
  }
  return target
}

/** OpenAI's `encoding_format: "base64"`: the float32 little-endian bytes of the vector, base64-encoded. */
export const base64ToVector = (base64: string): Float32Array => {
  const binary = atob(base64)
  if (binary.length % 4 !== 0) throw new RangeError("base64 embedding: byte length is not a multiple of 4")
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return blobToVector(bytes)
}

/** The base64 form of a vector (used by the loopback fake of the embeddings endpoint). */
export const vectorToBase64 = (vector: Float32Array): string => {
  const bytes = vectorToBlob(vector)
  let binary = ""
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return btoa(binary)
}

/** Scale `vector` in place to unit length (a zero vector stays zero). */
export const normalizeInPlace = (vector: Float32Array, offset = 0, length = vector.length - offset): number => {
  let sum = 0
  for (let i = offset; i < offset + length; i++) sum += vector[i]! * vector[i]!
  const norm = Math.sqrt(sum)
  if (norm > 0) for (let i = offset; i < offset + length; i++) vector[i] = vector[i]! / norm
  return norm
}

/** Dot product of `query` with row `row` of a row-major matrix of `query.length` columns. */
export const dotRow = (matrix: Float32Array, row: number, query: Float32Array): number => {
  const dims = query.length
  const base = row * dims
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let j = 0
  for (; j + 3 < dims; j += 4) {
    s0 += matrix[base + j]! * query[j]!
    s1 += matrix[base + j + 1]! * query[j + 1]!
    s2 += matrix[base + j + 2]! * query[j + 2]!
    s3 += matrix[base + j + 3]! * query[j + 3]!
  }
  for (; j < dims; j++) s0 += matrix[base + j]! * query[j]!
  return s0 + s1 + s2 + s3
}
