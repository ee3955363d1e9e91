/** What a walk that reads each L2 table once needs of the image (Qcow2Image.l2TableOnce). */
export interface OnceReadTables {
  readonly clusterSize: number;
  l2TableOnce(offset: number, what: string): Promise<Buffer>;
}

/** One step of a walk: its L2 tables' offsets (0: none, not read) and what each is called in an error. */
export interface TableStep<T> {
  step: T;
  offsets: readonly number[];
  what: string;
}

/** Steps read at once at most (the one the walk is at among them), and the most bytes of tables they may hold. */
const READ_AHEAD_STEPS = 8;
const READ_AHEAD_BYTES = 8 << 20;

type TablesRead = { tables: (Buffer | undefined)[] } | { error: unknown };

/**
 * The tables of each step, in the steps' order, read up to 8 steps at once (no more than 8 MiB of tables: images of
 * 2 MiB clusters have 2 MiB tables): each read waits on the thread pool, and from the page cache that wait is most of a
 * table's cost. `tablesPerStep`: the most offsets a step has. Errors, the steps' own or their reads', are thrown in the
 * steps' order. The image must not be written while the walk runs: a table read ahead is a copy of that moment.
 */
export async function* readTablesAhead<T>(
  image: OnceReadTables,
  steps: Iterator<TableStep<T>>,
  tablesPerStep: number,
): AsyncGenerator<{ step: T; tables: (Buffer | undefined)[] }> {
  const window = Math.max(1, Math.min(READ_AHEAD_STEPS, Math.floor(READ_AHEAD_BYTES / (tablesPerStep * image.clusterSize))));
  const queue: { step: T; read: Promise<TablesRead> }[] = [];
  let ended = false;
  const fill = (size: number) => {
    while (!ended && queue.length < size) {
      let next: IteratorResult<TableStep<T>>;
      try {
        next = steps.next();
      } catch (error) {
        // a step that cannot be made (a bad L1 entry) fails the walk where it stands, after the steps before it
        ended = true;
        // no step to carry: the walk throws on reaching it and never sees `step`
        queue.push({ step: undefined as T, read: Promise.resolve({ error }) });
        return;
      }
      if (next.done) ended = true;
      else queue.push({ step: next.value.step, read: readTables(image, next.value) });
    }
  };
  fill(window);
  for (let head = queue.shift(); head; head = queue.shift()) {
    fill(window - 1);
    const read = await head.read;
    if ('error' in read) throw read.error;
    yield { step: head.step, tables: read.tables };
  }
}

/** Settled as a value, never rejected: a read ahead that fails while earlier steps are walked is thrown when reached. */
function readTables<T>(image: OnceReadTables, { offsets, what }: TableStep<T>): Promise<TablesRead> {
  return Promise.all(offsets.map((offset) => (offset ? image.l2TableOnce(offset, what) : undefined))).then(
    (tables) => ({ tables }),
    (error: unknown) => ({ error }),
  );
}
