import { BlockRanges } from './block-ranges';
import { checkRestoreRecord, RestoreIdentity, restoreRecord } from './restore-record';

const MIB = 1 << 20;

describe('the restore progress record', () => {
  const identity: RestoreIdentity = {
    operationId: 'op-1',
    volumeId: 'vol-1',
    region: 'RegionOne',
    manifestObject: 'manifests/vol-0/0000000001-snap',
    manifestEtag: '0123456789abcdef0123456789abcdef',
    sizeBytes: 16 * MIB,
    pointInTime: 'snap-1',
    entries: 4,
  };
  const written = BlockRanges.empty();
  [0, 1, 3].forEach((o) => written.add(o));
  const stored = JSON.stringify(restoreRecord(identity, written));

  it('is trusted by the same restore, with the blocks it says are written', () => {
    const check = checkRestoreRecord(stored, identity);
    expect(check.trusted).toBe(true);
    if (check.trusted) expect(check.written.toJSON()).toEqual(written.toJSON());
  });

  it.each<[keyof RestoreIdentity, string | number]>([
    ['operationId', 'op-2'],
    ['volumeId', 'vol-2'],
    ['region', 'RegionTwo'],
    ['manifestObject', 'manifests/vol-0/0000000002-other'],
    ['manifestEtag', 'fedcba9876543210fedcba9876543210'],
    ['entries', 5],
    ['sizeBytes', 32 * MIB],
    ['pointInTime', 'snap-2'],
  ])('is refused by a restore with another %s, naming it', (field, value) => {
    const check = checkRestoreRecord(stored, { ...identity, [field]: value });
    expect(check).toEqual({ trusted: false, why: expect.stringContaining(`has ${field} ${JSON.stringify(identity[field])}`) });
  });

  it('is refused when torn, of another version, or claiming blocks the manifest does not have', () => {
    expect(checkRestoreRecord(stored.slice(0, stored.length - 5), identity)).toEqual({ trusted: false, why: expect.stringContaining('not JSON') });
    expect(checkRestoreRecord('null', identity)).toEqual({ trusted: false, why: expect.stringContaining('not an object') });
    expect(checkRestoreRecord(JSON.stringify({ ...JSON.parse(stored), version: 1 }), identity)).toEqual({
      trusted: false,
      why: expect.stringContaining('version 1'),
    });
    const beyond = JSON.stringify({ ...JSON.parse(stored), written: [[0, 5]] });
    expect(checkRestoreRecord(beyond, identity)).toEqual({ trusted: false, why: expect.stringContaining('outside [0, 4)') });
  });
});
