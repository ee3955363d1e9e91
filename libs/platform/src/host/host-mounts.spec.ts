import { loopDevicesIn } from './host-mounts';

describe("the loop devices in losetup's listing", () => {
  it('names each device with its backing file, paths with spaces and deleted files included, and skips devices without one', () => {
    const listing = ['/dev/loop0 /var/lib/island/exports/a.raw', '/dev/loop1 /tmp/with space/b.raw', '/dev/loop2 /tmp/c.raw (deleted)', '/dev/loop3', ''].join(
      '\n',
    );
    expect(loopDevicesIn(listing)).toEqual([
      { device: '/dev/loop0', backingFile: '/var/lib/island/exports/a.raw' },
      { device: '/dev/loop1', backingFile: '/tmp/with space/b.raw' },
      { device: '/dev/loop2', backingFile: '/tmp/c.raw' },
    ]);
  });
});
