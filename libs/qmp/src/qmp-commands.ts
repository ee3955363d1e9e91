/**
 * The QMP commands island sends to qemu-storage-daemon (the node agent, and the bench timing QEMU alone), with their arguments and replies
 * (QEMU's qapi schema, version 7.2). Only what island uses is typed; a command not listed here cannot be sent.
 */

export interface BlockdevFile {
  driver: 'file';
  filename: string;
  /** `direct`: the file opened with O_DIRECT (libvirt's cache='none'): guest writes and a fill's copies bypass the host's page cache. */
  cache?: { direct: boolean };
}

/**
 * An image's file node: opened past the host's page cache where `direct` (its file system allows O_DIRECT), as Nova's
 * libvirt driver opens local disks by default. The image's bytes are then cached once, by the guest; a volume filling
 * from its snapshot writes it without the kernel copying each byte into the page cache.
 */
export function imageFileNode(filename: string, direct: boolean): BlockdevFile {
  return direct ? { driver: 'file', filename, cache: { direct: true } } : { driver: 'file', filename };
}

export interface QmpCommands {
  qmp_capabilities: { args: Record<string, never>; reply: Record<string, never> };
  'query-version': { args: Record<string, never>; reply: { qemu: { major: number; minor: number; micro: number }; package: string } };
  'blockdev-add': {
    args:
      | { driver: 'qcow2'; 'node-name': string; file: BlockdevFile; discard?: 'ignore' | 'unmap'; backing?: string }
      | {
          driver: 'nbd';
          'node-name': string;
          server: { type: 'unix'; path: string };
          export: string;
          'read-only': true;
          /** Seconds a lost connection is retried while requests wait, before they fail. */
          'reconnect-delay': number;
          'open-timeout'?: number;
        };
    reply: Record<string, never>;
  };
  'blockdev-del': { args: { 'node-name': string }; reply: Record<string, never> };
  // Not `query-named-block-nodes`: it crashes qemu-storage-daemon (7.2 and 10.0, SIGSEGV) once a block-stream job has
  // left its former backing node without a parent, which every fill does until the agent deletes that node.
  'x-debug-query-block-graph': {
    args: Record<string, never>;
    reply: { nodes: { id: number; type: string; name: string }[]; edges: { parent: number; child: number; name: string }[] };
  };
  'block-stream': {
    args: { 'job-id': string; device: string; 'auto-dismiss': boolean; 'on-error'?: 'report' | 'stop' };
    reply: Record<string, never>;
  };
  'query-block-jobs': { args: Record<string, never>; reply: BlockJobInfo[] };
  'block-job-cancel': { args: { device: string; force?: boolean }; reply: Record<string, never> };
  'job-dismiss': { args: { id: string }; reply: Record<string, never> };
  'block-export-add': {
    args:
      | { type: 'nbd'; id: string; 'node-name': string; name: string; writable: boolean }
      | { type: 'fuse'; id: string; 'node-name': string; mountpoint: string; writable: boolean };
    reply: Record<string, never>;
  };
  'block-export-del': { args: { id: string }; reply: Record<string, never> };
  'query-block-exports': { args: Record<string, never>; reply: { id: string; type: string; 'node-name': string; 'shutting-down': boolean }[] };
  'blockdev-snapshot-internal-sync': { args: { device: string; name: string }; reply: Record<string, never> };
  'blockdev-snapshot-delete-internal-sync': { args: { device: string; name: string }; reply: { id: string; name: string } };
  transaction: {
    args: { actions: { type: 'blockdev-snapshot-internal-sync'; data: { device: string; name: string } }[] };
    reply: Record<string, never>;
  };
  quit: { args: Record<string, never>; reply: Record<string, never> };
}

export type QmpCommand = keyof QmpCommands;

/** A block job as `query-block-jobs` shows it; `device` is the job's id. */
export interface BlockJobInfo {
  device: string;
  type: string;
  status: 'created' | 'running' | 'paused' | 'ready' | 'standby' | 'waiting' | 'pending' | 'aborting' | 'concluded' | 'undefined' | 'null';
  offset: number;
  len: number;
  error?: string;
}

/** An asynchronous event QEMU sends, e.g. BLOCK_EXPORT_DELETED with `{ id }`. */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}
