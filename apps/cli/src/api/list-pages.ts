import { ApiClient } from './api-client';

/** `--limit` or `--marker`: the one page the API answers for them; neither: every page, one after the other. */
export interface PageOptions {
  limit?: string;
  marker?: string;
}

export interface Listed<T> {
  items: T[];
  /** Where the page asked for ends, when more follow; null once the list is whole. */
  nextMarker: string | null;
}

/** A list route's items (`{ [key]: T[], nextMarker }` a page): the page asked for, or the whole list. */
export async function listPages<T>(api: ApiClient, path: string, key: string, query: Record<string, string>, o: PageOptions): Promise<Listed<T>> {
  const onePage = o.limit !== undefined || o.marker !== undefined;
  const items: T[] = [];
  let marker = o.marker;
  for (;;) {
    const params = new URLSearchParams({ ...query, ...(o.limit !== undefined && { limit: o.limit }), ...(marker !== undefined && { marker }) });
    const search = params.toString();
    const page = await api.get<Record<string, unknown> & { nextMarker?: string | null }>(`${path}${search ? `?${search}` : ''}`);
    items.push(...(page[key] as T[]));
    const next = page.nextMarker ?? null;
    if (onePage || next === null) return { items, nextMarker: next };
    marker = next;
  }
}

/** Tells a reader of a table where the next page starts (on stderr: stdout keeps the table alone). */
export function noteNextPage(listed: Listed<unknown>): void {
  if (listed.nextMarker !== null) process.stderr.write(`more follow: add --marker ${listed.nextMarker}\n`);
}
