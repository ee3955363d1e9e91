import { apply, crashStates, epochsOf, Piece } from '../test/crash-states';
import { FileEvent } from '../test/recording-file';

const write = (offset: number, bytes: number[]): FileEvent => ({ kind: 'write', offset, bytes: Buffer.from(bytes) });

describe('crash states of a recorded update', () => {
  it('splits the writes at barriers and at page boundaries', () => {
    const epochs = epochsOf([write(4094, [1, 2, 3, 4]), { kind: 'barrier' }, { kind: 'truncate', size: 9000 }, { kind: 'barrier' }]);
    expect(epochs.map((e) => e.map((p) => (p.kind === 'write' ? `${p.offset}+${p.bytes.length}` : `size ${p.size}`)))).toEqual([
      ['4094+2', '4096+2'],
      ['size 9000'],
      [],
    ]);
  });

  it('applies writes in the order issued and grows the file with zeros', () => {
    const pieces: Piece[] = [
      { kind: 'write', offset: 1, bytes: Buffer.from([7, 7]) },
      { kind: 'write', offset: 2, bytes: Buffer.from([9]) },
      { kind: 'truncate', size: 6 },
    ];
    expect([...apply(Buffer.from([1, 1]), pieces)]).toEqual([1, 7, 9, 0, 0, 0]);
  });

  it('tries every subset of a small epoch on top of every earlier epoch, once per distinct image', () => {
    const events: FileEvent[] = [write(0, [1]), write(1, [2]), write(2, [3]), { kind: 'barrier' }, write(0, [4]), { kind: 'barrier' }];
    const states = crashStates(Buffer.alloc(3), epochsOf(events), { exhaustiveUpTo: 8, sample: 300, seed: 1 });
    // 8 subsets of the first epoch; the second adds only [4, 2, 3]; the empty third epoch repeats it
    expect(states.map((s) => [...s.image].join(''))).toEqual(['000', '100', '020', '120', '003', '103', '023', '123', '423']);
    expect(states.filter((s) => s.complete).map((s) => [...s.image].join(''))).toEqual(['423']);
  });

  it('samples a large epoch: none, all, each write alone, all but each, then random subsets up to the sample size', () => {
    const events = [...Array(20).keys()].map((i) => write(i, [i + 1]));
    const states = crashStates(Buffer.alloc(20), epochsOf(events), { exhaustiveUpTo: 8, sample: 300, seed: 3 });
    const applied = states.filter((s) => s.epoch === 0).map((s) => s.applied.join(','));
    expect(applied.length).toBeGreaterThanOrEqual(300);
    expect(new Set(applied).size).toBe(applied.length);
    const all = [...Array(20).keys()];
    expect(applied).toEqual(expect.arrayContaining(['', all.join(','), '0', '19', all.slice(1).join(','), all.slice(0, 19).join(',')]));
  });
});
