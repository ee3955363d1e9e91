import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { PROJECT_KEY_BYTES } from './project-keys';

export const KEK_BYTES = 32;
const WRAP_FORMAT = 1;

/** A project's master key as it is stored (in the catalog and in Swift): sealed by a key-encryption key. */
export interface WrappedProjectKey {
  format: typeof WRAP_FORMAT;
  projectId: string;
  /** Which KEK sealed it (`kekId`): a rotation re-wraps every key sealed by the old one. */
  kekId: string;
  iv: string;
  tag: string;
  sealed: string;
}

/** Names a KEK without revealing it: the first 8 bytes of a SHA-256 over a label and the key, hex. */
export function kekId(kek: Buffer): string {
  assertKek(kek);
  return createHash('sha256').update('island kek id v1\0').update(kek).digest().subarray(0, 8).toString('hex');
}

/** The project and the KEK are bound in as associated data: a wrapped key moved to another project does not open. */
function associatedData(projectId: string, id: string): Buffer {
  return Buffer.from(`island project key v${WRAP_FORMAT}\0${projectId}\0${id}`);
}

export function wrapProjectKey(kek: Buffer, projectId: string, master: Buffer): WrappedProjectKey {
  if (master.length !== PROJECT_KEY_BYTES) throw new Error(`a project master key is ${PROJECT_KEY_BYTES} bytes, not ${master.length}`);
  const id = kekId(kek);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv).setAAD(associatedData(projectId, id));
  const sealed = Buffer.concat([cipher.update(master), cipher.final()]);
  return {
    format: WRAP_FORMAT,
    projectId,
    kekId: id,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    sealed: sealed.toString('base64'),
  };
}

/** The wrapped key could not be opened: another KEK sealed it, or it was altered or moved to another project. */
export class KeyUnwrapError extends Error {
  readonly permanent = true;
  constructor(message: string) {
    super(message);
    this.name = 'KeyUnwrapError';
  }
}

/**
 * Opens the wrapped key of `projectId` — the project the caller asks for, not the one the record names: a record
 * copied into another project's place does not open.
 */
export function unwrapProjectKey(kek: Buffer, projectId: string, wrapped: WrappedProjectKey): Buffer {
  if (wrapped.format !== WRAP_FORMAT) throw new KeyUnwrapError(`the key of project ${projectId} is in wrap format ${wrapped.format}, not ${WRAP_FORMAT}`);
  const id = kekId(kek);
  if (wrapped.kekId !== id) throw new KeyUnwrapError(`the key of project ${projectId} is sealed by KEK ${wrapped.kekId}, not by the KEK given (${id})`);
  const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(wrapped.iv, 'base64')).setAAD(associatedData(projectId, id));
  decipher.setAuthTag(Buffer.from(wrapped.tag, 'base64'));
  try {
    const master = Buffer.concat([decipher.update(Buffer.from(wrapped.sealed, 'base64')), decipher.final()]);
    if (master.length !== PROJECT_KEY_BYTES) throw new Error(`${master.length} bytes`);
    return master;
  } catch (error) {
    throw new KeyUnwrapError(`the key of project ${projectId} does not open with KEK ${id}: it was altered or belongs elsewhere (${(error as Error).message})`);
  }
}

/** KEK rotation: the same master key sealed by the new KEK; no block changes. */
export function rewrapProjectKey(oldKek: Buffer, newKek: Buffer, projectId: string, wrapped: WrappedProjectKey): WrappedProjectKey {
  return wrapProjectKey(newKek, projectId, unwrapProjectKey(oldKek, projectId, wrapped));
}

function assertKek(kek: Buffer): void {
  if (kek.length !== KEK_BYTES) throw new Error(`a key-encryption key is ${KEK_BYTES} bytes, not ${kek.length}`);
}
