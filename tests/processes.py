"""A test's view of the processes it started, from /proc (Linux)."""

import os


def children(parent):
    """The pids of ``parent``'s child processes."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/stat" % pid) as f:
                    if int(f.read().rsplit(") ", 1)[1].split()[1]) == parent:
                        found.append(int(pid))
            except OSError:
                pass
    return found


def alive(pid):
    """Running (not gone, not a zombie)."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False
