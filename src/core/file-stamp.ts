/**
 * Identity of a file's current content as far as stat tells: a rename over it (new inode), a copy
 * into it (size, mtime) or a symlink moved to another (followed) all change it. For files re-read
 * when they change: the API tokens file, the TLS certificate and key. Throws what stat throws.
 */
import fs from "node:fs";

export function fileStamp(file: string): string {
  const s = fs.statSync(file, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
}
