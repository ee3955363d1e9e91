import { ValueTransformer } from 'typeorm';

/** pg returns bigint as a string; island's sizes stay far below 2^53, so numbers are safe. */
export const bigintToNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};
