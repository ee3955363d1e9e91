import { createSnapshot, deleteSnapshot, growImage, Qcow2Image, revertToSnapshot } from '../src/index';

/** What the guest must read: the active image and each snapshot, updated along with the image. */
export class GuestModel {
  readonly snapshots = new Map<string, Buffer>();
  /** Every content the active image had since startUpdate(), oldest first. */
  readonly versions: Buffer[] = [];
  private updating = false;

  constructor(public active: Buffer) {}

  startUpdate(): void {
    this.updating = true;
    this.versions.push(Buffer.from(this.active));
  }

  async write(image: Qcow2Image, offset: number, length: number, value: number): Promise<void> {
    await image.write(offset, Buffer.alloc(length, value));
    this.changed(() => this.active.fill(value, offset, offset + length));
  }

  async zero(image: Qcow2Image, offset: number, length: number): Promise<void> {
    await image.writeZeroes(offset, length);
    this.changed(() => this.active.fill(0, offset, offset + length));
  }

  async snapshot(image: Qcow2Image, name: string): Promise<void> {
    await createSnapshot(image, name);
    this.snapshots.set(name, Buffer.from(this.active));
  }

  async deleteSnapshot(image: Qcow2Image, name: string): Promise<void> {
    await deleteSnapshot(image, name);
    this.snapshots.delete(name);
  }

  async revert(image: Qcow2Image, name: string): Promise<void> {
    await revertToSnapshot(image, name);
    this.changed(() => (this.active = Buffer.from(this.snapshots.get(name) as Buffer)));
  }

  async grow(image: Qcow2Image, size: number): Promise<void> {
    await growImage(image, size);
    this.changed(() => (this.active = Buffer.concat([this.active, Buffer.alloc(size - this.active.length)])));
  }

  private changed(apply: () => void): void {
    apply();
    if (this.updating) this.versions.push(Buffer.from(this.active));
  }
}
