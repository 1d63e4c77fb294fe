/** undefined when `<root>/<distDir>` (default dist) matches the sources on disk, else why not. */
export function distStale(root: string, distDir?: string): string | undefined;
