import type * as Qcow2 from '@island/qcow2';

/** libs/qcow2, loaded when a command that reads or writes an image runs rather than with the CLI: ~15 ms of every other command's start. */
export const loadQcow2 = (): Promise<typeof Qcow2> => import('@island/qcow2');
