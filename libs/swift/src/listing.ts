import { Dispatcher } from 'undici';
import { SwiftProtocolError } from './swift-errors';

export interface ObjectEntry {
  name: string;
  bytes: number;
  hash: string;
  last_modified: string;
  content_type: string;
  /** Set instead of the fields above for a pseudo-directory when listing with a delimiter. */
  subdir?: string;
}

export interface ContainerEntry {
  name: string;
  count: number;
  bytes: number;
}

/** Checks that a JSON listing is an array of named entries; a broken reply is an error, never a short list. */
export function parseListing(operation: string, target: string, res: Dispatcher.ResponseData<unknown>, text: string): unknown[] {
  if (res.statusCode === 204 || text === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SwiftProtocolError(operation, target, res.statusCode, 'listing is not JSON');
  }
  if (!Array.isArray(parsed)) throw new SwiftProtocolError(operation, target, res.statusCode, 'listing is not a JSON array');
  for (const entry of parsed) {
    const named = typeof entry === 'object' && entry !== null && (typeof entry.name === 'string' || typeof entry.subdir === 'string');
    if (!named) throw new SwiftProtocolError(operation, target, res.statusCode, `listing entry without a name: ${JSON.stringify(entry)}`);
  }
  return parsed;
}
