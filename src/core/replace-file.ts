/**
 * Replacing a small file whole, durably: a reader sees the old content or the new, never half of one,
 * and a crash after the call returns keeps the new. For files whose loss would undo a decision —
 * tenants' uids (a uid handed to two tenants), API tokens (a revoked token back in force).
 */
import fs from "node:fs";
import path from "node:path";

export interface ReplaceOptions {
  /**
   * An existing file keeps its owner, group and read bits (never a write bit but the owner's): root
   * editing a service's file must not leave one the service cannot read. Otherwise the new file is
   * this process's, 0600.
   */
  keepOwnership?: boolean;
}

export function replaceFile(file: string, text: string, options: ReplaceOptions = {}): void {
  // <file>.<pid>.tmp: the data directory's check knows its server files' temporaries by that name.
  const tmp = `${file}.${process.pid}.tmp`;
  const old = options.keepOwnership && fs.existsSync(file) ? fs.statSync(file) : undefined;
  // Created afresh ("wx": never through a planted symlink, never keeping an old file's mode).
  fs.rmSync(tmp, { force: true });
  const fd = fs.openSync(tmp, "wx", 0o600);
  try {
    if (old && (old.uid !== process.geteuid?.() || old.gid !== process.getegid?.()))
      fs.fchownSync(fd, old.uid, old.gid);
    if (old) fs.fchmodSync(fd, (old.mode & 0o644) | 0o600);
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  // The rename itself on disk.
  const dir = fs.openSync(path.dirname(file), "r");
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}
