import { IsInt, Max, Min } from 'class-validator';

/** Consecutive block indexes [start, start + count). */
export class BlockRun {
  @IsInt() @Min(0) @Max(Number.MAX_SAFE_INTEGER) start!: number;
  @IsInt() @Min(1) @Max(2 ** 31) count!: number;
}
