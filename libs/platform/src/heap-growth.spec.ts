import { setFlagsFromString as v8SetFlags } from 'node:v8';
import { HEAP_GROWING_PERCENT, setHeapGrowth } from './heap-growth';

jest.mock('node:v8', () => ({ setFlagsFromString: jest.fn() }));
const setFlagsFromString = v8SetFlags as jest.MockedFunction<typeof v8SetFlags>;

describe('setHeapGrowth', () => {
  beforeEach(() => setFlagsFromString.mockClear());

  it('lets the heap grow 2× past what survived a full collection', () => {
    setHeapGrowth(['apps/api/dist/main.js']);
    expect(HEAP_GROWING_PERCENT).toBe(100);
    expect(setFlagsFromString).toHaveBeenCalledWith('--heap-growing-percent=100');
  });

  it('leaves a growing factor given on the command line alone', () => {
    setHeapGrowth(['--max-old-space-size=192', '--heap_growing_percent=300']);
    expect(setFlagsFromString).not.toHaveBeenCalled();
  });
});
