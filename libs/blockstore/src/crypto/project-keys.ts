import { createHmac, hkdfSync, randomBytes } from 'node:crypto';

export const PROJECT_KEY_BYTES = 32;

/**
 * A project's keys, derived from its one master key (the only key stored, and only wrapped by a KEK):
 * `encryption` seals its block objects and manifests (AES-256-GCM), `naming` names its blocks (HMAC-SHA256 of
 * the content), so a name reveals nothing about content to anyone without the key, and equal content is one
 * object inside a project and two objects in two projects.
 */
export class ProjectKeys {
  readonly encryption: Buffer;
  readonly naming: Buffer;

  constructor(
    readonly projectId: string,
    master: Buffer,
  ) {
    if (master.length !== PROJECT_KEY_BYTES) throw new Error(`the master key of project ${projectId} is ${master.length} bytes, not ${PROJECT_KEY_BYTES}`);
    this.encryption = derive(master, projectId, 'island block and manifest encryption v1');
    this.naming = derive(master, projectId, 'island block naming v1');
  }

  /** A new random master key for a project. */
  static newMasterKey(): Buffer {
    return randomBytes(PROJECT_KEY_BYTES);
  }

  /** The name of a block with this content in this project: HMAC-SHA256 under the project's naming key. */
  blockName(content: Buffer): Buffer {
    return createHmac('sha256', this.naming).update(content).digest();
  }
}

function derive(master: Buffer, projectId: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.from(`island project ${projectId}`), Buffer.from(purpose), 32));
}
