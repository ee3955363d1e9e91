import { SwiftProtocolError } from './swift-errors';

export interface BulkDeleteFailure {
  /** /container/object as Swift reports it */
  path: string;
  /** e.g. "409 Conflict" */
  status: string;
}

export interface BulkDeleteResult {
  deleted: number;
  notFound: number;
  failures: BulkDeleteFailure[];
}

/**
 * Reads the bulk middleware's JSON reply. HTTP 200 does not mean success: the reply's own
 * "Response Status" and "Errors" say which items failed.
 */
export function parseBulkDeleteReply(target: string, httpStatus: number, text: string): BulkDeleteResult {
  let reply: Record<string, unknown>;
  try {
    reply = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new SwiftProtocolError('bulk delete', target, httpStatus, `reply is not JSON: ${text.slice(0, 120)}`);
  }
  const deleted = reply['Number Deleted'];
  const notFound = reply['Number Not Found'];
  const errors = reply['Errors'];
  const status = reply['Response Status'];
  if (typeof deleted !== 'number' || typeof notFound !== 'number' || !Array.isArray(errors) || typeof status !== 'string') {
    throw new SwiftProtocolError('bulk delete', target, httpStatus, `reply lacks its counts: ${text.slice(0, 120)}`);
  }
  const failures = errors.map((e): BulkDeleteFailure => {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'string') {
      throw new SwiftProtocolError('bulk delete', target, httpStatus, `malformed error entry ${JSON.stringify(e)}`);
    }
    return { path: e[0], status: e[1] };
  });
  if (failures.length === 0 && !/^2\d\d/.test(status)) {
    const body = typeof reply['Response Body'] === 'string' ? reply['Response Body'] : '';
    throw new SwiftProtocolError('bulk delete', target, httpStatus, `request failed as a whole: ${status} ${body}`.trim());
  }
  return { deleted, notFound, failures };
}
