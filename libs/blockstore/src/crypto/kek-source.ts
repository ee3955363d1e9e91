/** A key-encryption key and its id (`kekId`). */
export interface Kek {
  id: string;
  key: Buffer;
}

/**
 * Where island's key-encryption keys live: a local key file (the default) or OpenStack Barbican. Projects' master
 * keys are only ever stored wrapped by one of them. A rotation makes a new KEK current and keeps the previous ones
 * findable until every project key has been re-wrapped; then they are retired (forgotten by the manager).
 */
export interface KekSource {
  /** For logs and errors, never a secret: e.g. "key file /etc/island/kek". */
  readonly description: string;
  /** The KEK new project keys are wrapped with. */
  current(): Promise<Kek>;
  /** The KEK with this id while the manager still holds it (current or not yet retired), else undefined. */
  find(id: string): Promise<Kek | undefined>;
  /** Makes a new random KEK the current one; the previous ones stay findable. */
  rotate(): Promise<Kek>;
  /** Forgets every KEK but `keep`; returns the ids forgotten. */
  retireAllBut(keep: string): Promise<string[]>;
}
