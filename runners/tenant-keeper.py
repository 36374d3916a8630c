"""Cleans up after a tenant under tenantUids (src/backends/tenant-runners.ts), started by the server as root.

    python3 -I tenant-keeper.py KEEPER UID kill|rm|killrm [DIR]
    python3 -I tenant-keeper.py sweep OFFSET < uids     (one per line; the keeper of uid u is u + OFFSET)

It drops to real and saved uid KEEPER (a uid no tenant has) and effective uid UID, in this process,
with no exec after: the tenant (real uid UID) can then neither signal nor trace it — Linux lets a
process signal another whose real or saved uid is its own, and execve would copy the effective uid
into the saved one — while what it does is done with the tenant's rights only. `kill`: one kill(-1),
which reaches every process of the tenant (the kernel walks the process list in one go, so a process
forking meanwhile is not missed); `rm`: removes what DIR holds, never following a symlink and without
recursion (`empty`), so neither a symlink the tenant swaps in nor a tree deeper than any stack leads
it astray. Prints what it could not remove.
`sweep` (at the server's start) does `kill` for many tenants in one process: it keeps saved uid 0 to
switch back between them, which no tenant can use either (its real uid is never 0).
"""

import os
import signal
import stat
import sys
import time


def empty(d: str, seconds: float = 50.0) -> int:
    """Empties directory d without recursion or following a symlink: each subdirectory's entries are
    moved up into d (a tree of any depth takes two open descriptors), then the emptied subdirectory is
    removed; files and symlinks are unlinked. Gives up after `seconds` (a tenant still writing into
    it). Returns how many entries are left."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    top = os.open(d, flags)
    moved = 0
    deadline = time.monotonic() + seconds
    try:
        progress = True
        while progress and time.monotonic() < deadline:
            progress = False
            for name in os.listdir(top):
                try:
                    st = os.stat(name, dir_fd=top, follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        sub = os.open(name, flags, dir_fd=top)
                        try:
                            for child in os.listdir(sub):
                                moved += 1
                                os.rename(child, f".keeper-{moved}", src_dir_fd=sub, dst_dir_fd=top)
                        finally:
                            os.close(sub)
                        os.rmdir(name, dir_fd=top)
                    else:
                        os.unlink(name, dir_fd=top)
                    progress = True
                except Exception:
                    pass  # Left for the next pass, or for good (something the tenant may not remove).
        return len(os.listdir(top))
    finally:
        os.close(top)


def sweep(offset: int) -> int:
    for line in sys.stdin:
        if not line.strip():
            continue
        uid = int(line)
        os.setresuid(uid + offset, uid, 0)
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.setresuid(0, 0, 0)
    print(0)
    return 0


def main() -> int:
    if sys.argv[1] == "sweep":
        os.setgroups([])
        return sweep(int(sys.argv[2]))
    keeper, uid, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    os.setgroups([])
    os.setresgid(keeper, uid, keeper)
    os.setresuid(keeper, uid, keeper)
    if "kill" in mode:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
    left = empty(sys.argv[4]) if "rm" in mode else 0
    print(left)
    return 0


if __name__ == "__main__":
    sys.exit(main())
