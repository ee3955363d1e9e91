import { Command, Option } from 'commander';
import type * as Qcow2 from '@island/qcow2';
import { CliError } from '../cli-error';
import { parseSize } from '../sizes';
import { withImageErrors } from './image-errors';
import { copyGuest, exportTo, fileSource, writeFromStream } from './image-io';
import { loadQcow2 } from './load-qcow2';

/** `island image …`: works on qcow2 files directly (libs/qcow2). Sizes and offsets are bytes (K/M/G/T allowed). */
export function imageCommand(): Command {
  const image = new Command('image').description('inspect and modify qcow2 images directly');

  image
    .command('create <path>')
    .description('create an empty qcow2 image')
    .requiredOption('--size <size>', 'virtual size, e.g. 10G')
    .option('--cluster-size <bytes>', 'cluster size, 512 to 2M', '65536')
    .addOption(new Option('--compat <version>', 'qcow2 version').choices(['0.10', '1.1']).default('1.1'))
    .option('--backing <file>', 'backing file (qcow2 or raw) that unallocated clusters read through to')
    .action((path: string, o: { size: string; clusterSize: string; compat: '0.10' | '1.1'; backing?: string }) =>
      withImageErrors(path, async () =>
        (await loadQcow2()).createImage(path, {
          size: parseSize(o.size, '--size'),
          clusterSize: parseSize(o.clusterSize, '--cluster-size'),
          compat: o.compat,
          backingFile: o.backing,
        }),
      ),
    );

  image
    .command('info <path>')
    .description('virtual size, format details and snapshots')
    .option('--json', 'machine-readable output')
    .action((path: string, o: { json?: boolean }) =>
      withOpen(path, false, async (img) => {
        const info = img.info;
        const json = {
          virtualSize: info.virtualSize,
          clusterSize: info.clusterSize,
          version: info.version,
          refcountBits: info.refcountBits,
          dirty: info.dirty,
          corrupt: info.corrupt,
          backingFile: info.backingFile,
          snapshots: info.snapshots,
        };
        if (o.json) return out(JSON.stringify(json));
        out(
          [
            `image: ${path}`,
            `virtual size: ${info.virtualSize} bytes`,
            `cluster size: ${info.clusterSize}`,
            `version: ${info.version} (compat ${info.version === 3 ? '1.1' : '0.10'})`,
            `refcount bits: ${info.refcountBits}`,
            ...(info.backingFile ? [`backing file: ${info.backingFile}`] : []),
            ...(info.dirty ? ['dirty: yes'] : []),
            ...(info.corrupt ? ['corrupt: yes'] : []),
            `snapshots: ${info.snapshots.length}`,
            ...info.snapshots.map((s) => `  ${s.id}  ${s.name}  ${s.virtualSize} bytes  ${s.date}`),
          ].join('\n'),
        );
      }),
    );

  image
    .command('write <path>')
    .description('write bytes into the image: a repeated byte, a file, or standard input')
    .requiredOption('--offset <n>', 'guest offset in bytes')
    .option('--pattern <byte>', 'fill byte, e.g. 0xab (with --length)')
    .option('--length <n>', 'bytes to fill with --pattern')
    .option('--from <file>', 'copy this file into the image')
    .action((path: string, o: { offset: string; pattern?: string; length?: string; from?: string }) => {
      const offset = parseSize(o.offset, '--offset');
      if ((o.pattern === undefined) !== (o.length === undefined)) throw new CliError('--pattern and --length go together');
      if (o.pattern !== undefined && o.from !== undefined) throw new CliError('use either --pattern/--length or --from');
      return withOpen(path, true, async (img) => {
        if (o.pattern !== undefined) {
          const byte = Number(o.pattern);
          if (!Number.isInteger(byte) || byte < 0 || byte > 255) throw new CliError(`--pattern ${o.pattern} is not a byte (0x00..0xff)`);
          const length = parseSize(o.length as string, '--length');
          const chunk = Buffer.alloc(Math.min(length, 4 << 20), byte);
          for (let done = 0; done < length; done += chunk.length) {
            await img.write(offset + done, chunk.subarray(0, Math.min(chunk.length, length - done)));
          }
        } else {
          await writeFromStream(img, offset, o.from ? fileSource(o.from) : (process.stdin as AsyncIterable<Buffer>));
        }
      });
    });

  image
    .command('read <path>')
    .description('write guest bytes to standard output')
    .requiredOption('--offset <n>', 'guest offset in bytes')
    .requiredOption('--length <n>', 'bytes to read')
    .option('--snapshot <name>', 'read this snapshot instead of the active image')
    .action((path: string, o: { offset: string; length: string; snapshot?: string }) =>
      withOpen(path, false, async (img) => {
        const view = o.snapshot ? await img.snapshotView(o.snapshot) : img.activeView();
        const offset = parseSize(o.offset, '--offset');
        const length = parseSize(o.length, '--length');
        if (offset + length > view.size) throw new CliError(`cannot read ${length} bytes at ${offset}: the image is ${view.size} bytes`);
        await copyGuest(img, view, offset, length, process.stdout);
      }),
    );

  image
    .command('export <path> <out>')
    .description('write the whole guest image (or a snapshot) as a raw file')
    .option('--snapshot <name>', 'export this snapshot')
    .action((path: string, target: string, o: { snapshot?: string }) =>
      withOpen(path, false, async (img) => exportTo(img, o.snapshot ? await img.snapshotView(o.snapshot) : img.activeView(), target)),
    );

  const snapshot = image.command('snapshot').description('internal snapshots');
  snapshot
    .command('create <path> <name>')
    .action((path: string, name: string) => withOpen(path, true, async (img, q) => void (await q.createSnapshot(img, name))));
  snapshot.command('delete <path> <name>').action((path: string, name: string) => withOpen(path, true, (img, q) => q.deleteSnapshot(img, name)));
  snapshot.command('revert <path> <name>').action((path: string, name: string) => withOpen(path, true, (img, q) => q.revertToSnapshot(img, name)));
  snapshot
    .command('list <path>')
    .option('--json', 'machine-readable output')
    .action((path: string, o: { json?: boolean }) =>
      withOpen(path, false, async (img) => {
        const snapshots = img.snapshots();
        if (o.json) return out(JSON.stringify({ snapshots }));
        out(snapshots.map((s) => `${s.id}\t${s.name}\t${s.virtualSize}\t${s.date}`).join('\n'));
      }),
    );

  image
    .command('diff <path>')
    .description('guest ranges that changed between two snapshots (or a snapshot and the active image), from metadata')
    .requiredOption('--from <snapshot>', 'the earlier point in time')
    .option('--to <snapshot>', 'the later point in time (default: the active image)')
    .option('--json', 'machine-readable output')
    .action((path: string, o: { from: string; to?: string; json?: boolean }) =>
      withOpen(path, false, async (img, q) => {
        const diff = await q.diffSnapshots(img, o.from, o.to);
        if (o.json) return out(JSON.stringify(diff));
        out(diff.extents.map((e) => `${e.offset}\t${e.length}\t${e.kind}`).join('\n'));
      }),
    );

  image
    .command('check <path>')
    .description('verify reference counts (like qemu-img check); exit 0 only when clean')
    .option('--repair', 'release leaked clusters')
    .option('--json', 'machine-readable output')
    .action((path: string, o: { repair?: boolean; json?: boolean }) =>
      withOpen(path, Boolean(o.repair), async (img, q) => {
        const result = await q.checkImage(img, { repair: o.repair });
        const json = {
          errors: result.errors,
          leaks: result.leaks,
          leaksFixed: result.leaksFixed,
          imageEndOffset: result.imageEndOffset,
          problems: result.problems,
        };
        if (o.json) out(JSON.stringify(json));
        else
          out(
            result.errors + result.leaks === 0
              ? `No errors were found on ${path}${result.leaksFixed ? ` (${result.leaksFixed} leaks repaired)` : ''}.`
              : result.problems.join('\n'),
          );
        if (result.errors > 0 || result.leaks > 0) process.exitCode = 1;
      }),
    );

  return image;
}

async function withOpen(path: string, writable: boolean, work: (image: Qcow2.Qcow2Image, qcow2: typeof Qcow2) => Promise<void>): Promise<void> {
  await withImageErrors(path, async () => {
    const qcow2 = await loadQcow2();
    const image = await qcow2.Qcow2Image.open(path, { writable });
    try {
      await work(image, qcow2);
    } finally {
      await image.close();
    }
  });
}

function out(text: string): void {
  if (text) process.stdout.write(`${text}\n`);
}
