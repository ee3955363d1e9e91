import { Injectable, Logger } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FillSource } from './fill-registry';
import { ReadThroughArgs } from './read-through';
import { SnapshotServer } from './snapshot-server';

/** Where the reading of one image stands. */
export type CopyOnReadState =
  | { status: 'reading'; doneBytes: number; totalBytes: number }
  | { status: 'done'; doneBytes: number; totalBytes: number }
  | { status: 'failed'; doneBytes: number; totalBytes: number; error: string; reported: boolean };

interface Reading {
  state: CopyOnReadState;
  child: ChildProcess;
  stopped: boolean;
}

/**
 * The fills of images that FUSE exports serve through their copy-on-read filter (StorageDaemon.copyOnReadFill): a
 * child process per image reads every block the snapshot holds once through the export (read-through.ts says why a
 * child), and how far it got is saved with the fill, so that a restarted agent goes on from there.
 */
@Injectable()
export class CopyOnReadFills {
  private readonly logger = new Logger('CopyOnReadFills');
  private readonly readings = new Map<string, Reading>();

  constructor(private readonly server: SnapshotServer) {}

  /** Where the fill of the volume stands, starting it (from where the last one stopped) unless it runs or ended. */
  state(fill: FillSource, rawPath: string): CopyOnReadState {
    const reading = this.readings.get(fill.volumeId) ?? this.start(fill, rawPath);
    return reading.state;
  }

  /** Its failure was reported: it is not started again until the volume is exported anew (forget). */
  markReported(volumeId: string): void {
    const state = this.readings.get(volumeId)?.state;
    if (state?.status === 'failed') state.reported = true;
  }

  /** Stops and forgets the volume's reading (its export went, it failed and is to be started again, or it ended). */
  forget(volumeId: string): void {
    const reading = this.readings.get(volumeId);
    if (!reading) return;
    reading.stopped = true;
    reading.child.kill('SIGKILL'); // a read the daemon holds ends first: the child goes when it is answered
    this.readings.delete(volumeId);
  }

  private start(fill: FillSource, rawPath: string): Reading {
    const from = fill.readThrough ?? 0;
    const args: ReadThroughArgs = {
      rawPath,
      mapPath: this.server.fills.mapPath(fill.volumeId),
      blockSize: fill.blockSize,
      snapshotBytes: fill.snapshotBytes,
      volumeBytes: fill.volumeBytes,
      from,
    };
    const child = spawn(process.execPath, [join(__dirname, 'read-through.js'), JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const reading: Reading = {
      state: { status: 'reading', doneBytes: Math.min(fill.volumeBytes, from * fill.blockSize), totalBytes: fill.volumeBytes },
      child,
      stopped: false,
    };
    this.readings.set(fill.volumeId, reading);
    let stderr = '';
    let done = false;
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2_000)));
    let saving = Promise.resolve();
    createInterface({ input: child.stdout }).on('line', (line) => {
      let report: { doneBytes?: number; readThrough?: number; done?: boolean };
      try {
        report = JSON.parse(line) as typeof report;
      } catch {
        return; // not a report (e.g. a warning Node printed)
      }
      if (report.doneBytes !== undefined) reading.state.doneBytes = report.doneBytes;
      if (report.readThrough !== undefined) {
        const readThrough = report.readThrough;
        saving = saving.then(() => this.saveProgress(fill.volumeId, readThrough, reading));
      }
      if (report.done) done = true;
    });
    child.on('close', (code, signal) => {
      void saving.then(() => {
        if (reading.stopped) return;
        if (code === 0 && done) {
          reading.state = { status: 'done', doneBytes: fill.volumeBytes, totalBytes: fill.volumeBytes };
          return;
        }
        const error = stderr.trim() || `the reader exited (${code ?? signal})`;
        this.logger.warn(`reading volume ${fill.volumeId} through its export stopped: ${error}`);
        reading.state = { ...reading.state, status: 'failed', error, reported: false };
      });
    });
    return reading;
  }

  private async saveProgress(volumeId: string, readThrough: number, reading: Reading): Promise<void> {
    if (reading.stopped) return;
    const current = await this.server.fills.get(volumeId).catch(() => undefined);
    if (current)
      await this.server.fills.save({ ...current, readThrough }).catch((error: Error) => this.logger.warn(`saving the fill of ${volumeId}: ${error.message}`));
  }
}
