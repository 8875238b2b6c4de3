import {
  devNumbers,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
} from "../fileop/fs-util.js";

/** The stat fields a tarsum header reads (a subset of `fs.Stats`). */
export interface HeaderStat {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly rdev: number;
}

/**
 * BuildKit's per-entry header string (tarsum v1): the key/value pairs `name`, `mode`, `uid`, `gid`,
 * `size`, `typeflag`, `linkname`, `uname`, `gname`, `devmajor`, `devminor` concatenated without
 * separators, then sorted relevant xattrs (none here: Node cannot read xattrs). The name is always
 * empty (the parent directory adds it), `mtime` is left out, `mode` is the decimal permission plus
 * setuid/setgid/sticky bits of Go's `tar.FileInfoHeader` (symlinks report 0777), sockets count as
 * empty regular files, `size` is non-zero only for regular files, and user/group names are empty.
 * A regular file's digest is sha256 of this string followed by its bytes.
 */
export function tarsumHeader(st: HeaderStat, linkname: string, owner?: { uid: number; gid: number }): string {
  let type = st.mode & S_IFMT;
  if (type === S_IFSOCK) type = S_IFREG;
  let mode = st.mode & 0o7777;
  if (type === S_IFLNK) mode |= 0o777;
  const typeflag = TYPEFLAGS[type] ?? "0";
  const size = type === S_IFREG ? st.size : 0;
  const dev = type === S_IFCHR || type === S_IFBLK ? devNumbers(st.rdev) : { major: 0, minor: 0 };
  const uid = owner?.uid ?? st.uid;
  const gid = owner?.gid ?? st.gid;
  return (
    `name` +
    `mode${mode}` +
    `uid${uid}` +
    `gid${gid}` +
    `size${size}` +
    `typeflag${typeflag}` +
    `linkname${type === S_IFLNK ? linkname : ""}` +
    `uname` +
    `gname` +
    `devmajor${dev.major}` +
    `devminor${dev.minor}`
  );
}

const TYPEFLAGS: Record<number, string> = {
  [S_IFREG]: "0",
  [S_IFLNK]: "2",
  [S_IFCHR]: "3",
  [S_IFBLK]: "4",
  [S_IFDIR]: "5",
  [S_IFIFO]: "6",
};
