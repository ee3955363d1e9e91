import { CliError } from '../cli-error';
import { loadQcow2 } from './load-qcow2';

/** Exit 2 for an invalid or unsupported image, 1 for anything else; one line, no stack trace. */
export async function withImageErrors<T>(path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const { InvalidImageError, Qcow2Error, UnsupportedFeatureError } = await loadQcow2();
    if (error instanceof InvalidImageError || error instanceof UnsupportedFeatureError) {
      throw new CliError(`${path}: ${error.message}`, 2);
    }
    if (error instanceof Qcow2Error) throw new CliError(`${path}: ${error.message}`, 1);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`${path}: no such file`, 1);
    if (code === 'EEXIST') throw new CliError(`${path}: already exists`, 1);
    if (code) throw new CliError(`${path}: ${(error as Error).message}`, 1);
    throw error;
  }
}
