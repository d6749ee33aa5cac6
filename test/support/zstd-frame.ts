/**
 * A valid Zstandard frame (RFC 8878) made of raw (stored) blocks: enough to
 * test decoding without a zstd compressor, which Node 20 does not have.
 */
export function zstdRawFrame(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(0xfd2fb528);
  parts.push(magic);
  // Frame header descriptor: Single_Segment_Flag set, 4-byte Frame_Content_Size (FCS flag 2).
  parts.push(Buffer.from([0b1010_0000]));
  const size = Buffer.alloc(4);
  size.writeUInt32LE(data.length);
  parts.push(size);
  const maxBlock = 128 * 1024;
  let offset = 0;
  do {
    const chunk = data.subarray(offset, offset + maxBlock);
    offset += chunk.length;
    const last = offset >= data.length ? 1 : 0;
    const header = (chunk.length << 3) | (0 << 1) | last; // Block_Type 0 = Raw_Block
    parts.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]), chunk);
  } while (offset < data.length);
  return Buffer.concat(parts);
}
