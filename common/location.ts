import { ErrorTypes, MetError } from './errors';

/**
 * Where a data value (`--data`, `MET_DATA`, `met corpus push --to`) points: a local folder, or
 * `s3://bucket/prefix`. Anything else that looks like a URL (`gs://`, `http://`, `s3:/` with one
 * slash, `file:`) is refused here, so no command ever creates a local folder named `gs:` or `s3:`.
 * A Windows drive letter (`C:\data`) is a folder, not a scheme. Pure: no Node built-ins.
 */
export type DataLocation = { kind: 'local'; root: string } | { kind: 's3'; bucket: string; prefix: string; url: string };

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]+):/;

export function parseDataLocation(value: string, what = '--data'): DataLocation {
  const scheme = SCHEME.exec(value)?.[1];
  if (scheme === undefined) return { kind: 'local', root: value };
  if (scheme.toLowerCase() !== 's3' || !value.startsWith('s3://')) {
    throw new MetError(
      ErrorTypes.BadInput,
      `${what} '${value}' is a URL met cannot store corpora at: give a local folder or s3://bucket/prefix (S3-compatible stores through AWS_ENDPOINT_URL). To use a folder whose name contains ':', write it as ./${value}`,
    );
  }
  const rest = value.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw new MetError(ErrorTypes.BadInput, `${what} '${value}' is not an s3://bucket/prefix location (bad bucket name '${bucket}')`);
  if (prefix.split('/').some((part) => part === '' || part === '.' || part === '..') && prefix !== '') {
    throw new MetError(ErrorTypes.BadInput, `${what} '${value}' has an empty, '.' or '..' part in its prefix`);
  }
  return { kind: 's3', bucket, prefix, url: `s3://${bucket}${prefix ? `/${prefix}` : ''}` };
}
