import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import type { Qcow2Image, View } from '@island/qcow2';

const CHUNK = 4 << 20;

/** Streams guest bytes [offset, offset+length) of a view to `out`, respecting back-pressure. */
export async function copyGuest(image: Qcow2Image, view: View, offset: number, length: number, out: Writable): Promise<void> {
  for (let done = 0; done < length;) {
    const n = Math.min(CHUNK, length - done);
    const data = Buffer.allocUnsafe(n); // a stream keeps the buffer until written: one per chunk
    await image.readInto(view, offset + done, data);
    if (!out.write(data)) await once(out, 'drain');
    done += n;
  }
}

export async function exportTo(image: Qcow2Image, view: View, path: string): Promise<void> {
  const out = createWriteStream(path, { flags: 'w' });
  await copyGuest(image, view, 0, view.size, out);
  out.end();
  await once(out, 'finish');
}

/** Writes a stream into the image at `offset`, in chunks; returns the bytes written. */
export async function writeFromStream(image: Qcow2Image, offset: number, source: AsyncIterable<Buffer>): Promise<number> {
  let at = offset;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const drain = async () => {
    const data = Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    await image.write(at, data);
    at += data.length;
  };
  for await (const chunk of source) {
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes >= CHUNK) await drain();
  }
  if (pendingBytes) await drain();
  return at - offset;
}

export function fileSource(path: string): AsyncIterable<Buffer> {
  return createReadStream(path, { highWaterMark: 1 << 20 });
}
