import { tmpdir } from 'node:os';
import { isPermanentFailure } from '@island/messaging';
import { assertRoomFor, InsufficientSpaceError } from './free-space';

describe('the free-space check before a restore', () => {
  it('lets a restore start when the disk has room for it', async () => {
    await expect(assertRoomFor(tmpdir(), 1024, 'restoring volume v')).resolves.toBeUndefined();
  });

  it('refuses, for good and saying how much is needed and free, a restore larger than the disk', async () => {
    const error = await assertRoomFor(tmpdir(), 2 ** 60, 'restoring volume v').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientSpaceError);
    expect((error as Error).message).toMatch(
      new RegExp(`^restoring volume v needs 1073741824\\.00 GiB \\(\\+0\\.06 GiB margin\\) but ${tmpdir()} has [\\d.]+ GiB free$`),
    );
    expect(isPermanentFailure(error)).toBe(true);
  });
});
