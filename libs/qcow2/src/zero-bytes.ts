/** Shared zeros to compare against, grown to the longest buffer asked about (never written to). */
let zeros = Buffer.alloc(0);

/** Whether every byte is zero: one memcmp against shared zeros, not a loop in JavaScript over a megabyte. */
export function isAllZero(data: Buffer): boolean {
  if (data.length === 0) return true;
  if (data[0] !== 0) return false;
  if (zeros.length < data.length) zeros = Buffer.alloc(data.length);
  return data.equals(zeros.subarray(0, data.length));
}
