"""Cleans up after a tenant under tenantUids (src/backends/tenant-runners.ts), started by the server as root.

    python3 -I tenant-keeper.py KEEPER UID kill|rm|killrm [DIR]
    python3 -I tenant-keeper.py sweep OFFSET < uids     (one per line; the keeper of uid u is u + OFFSET)

It drops to real and saved uid KEEPER (a uid no tenant has) and effective uid UID, in this process,
with no exec after: the tenant (real uid UID) can then neither signal nor trace it — Linux lets a
process signal another whose real or saved uid is its own, and execve would copy the effective uid
into the saved one — while what it does is done with the tenant's rights only. `kill`: one kill(-1),
which reaches every process of the tenant (the kernel walks the process list in one go, so a process
forking meanwhile is not missed); `rm`: removes what DIR holds, never following a symlink (shutil's
fd-based walk), so a symlink the tenant swaps in cannot lead it outside. Prints what it could not remove.
`sweep` (at the server's start) does `kill` for many tenants in one process: it keeps saved uid 0 to
switch back between them, which no tenant can use either (its real uid is never 0).
"""

import os
import shutil
import signal
import sys


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
    left = 0
    if "rm" in mode:
        if not shutil.rmtree.avoids_symlink_attacks:
            print("this platform's shutil.rmtree follows symlinks", file=sys.stderr)
            return 2
        d = sys.argv[4]
        for name in os.listdir(d):
            p = os.path.join(d, name)
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
            except OSError:
                left += 1
    print(left)
    return 0


if __name__ == "__main__":
    sys.exit(main())
