import { loopDeviceCandidates, loopDevicesIn } from './host-mounts';

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

describe('the loop devices a file that needs a new one may take', () => {
  it("offers the host's unbound devices that no other volume's record names, lowest first, then new ones past every number seen", () => {
    const present = ['/dev/loop10', '/dev/loop2', '/dev/loop0', '/dev/loop1', '/dev/loop3', '/dev/loop-control'];
    expect(loopDeviceCandidates(present, ['/dev/loop0', '/dev/loop3'], ['/dev/loop1', '/dev/loop12'], 2)).toEqual([
      '/dev/loop2',
      '/dev/loop10',
      '/dev/loop13',
      '/dev/loop14',
    ]);
  });

  it('starts at /dev/loop0 on a host that has none yet', () => {
    expect(loopDeviceCandidates([], [], [], 1)).toEqual(['/dev/loop0']);
  });
});
