"""Running under an address-space limit (`ulimit -v`, RLIMIT_AS). The limit counts address
space, not memory: torch's CUDA build maps 3.3 GB of libraries on import, and glibc reserves
64 MB of address space for every thread's malloc arena. `embaug demo` stays near 1.5 GB resident
(benchmarks.hostile), so under a limit the arenas are capped and a limit too small for the
libraries is said in one line, instead of a segmentation fault or a MemoryError mid-run."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource

#: The smallest limit under which `embaug demo` ran to the end (benchmarks.hostile).
MIN_ADDRESS_SPACE = 6 * 2**30
#: glibc's mallopt parameter M_ARENA_MAX, and the arenas kept under a limit.
M_ARENA_MAX, ARENAS = -8, 2


def address_space_limit() -> int | None:
    """The soft RLIMIT_AS in bytes, or None when there is none."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def fit_address_space() -> str | None:
    """Under a limit, cap malloc's arenas (here, and in the worker processes through the
    environment); a message when the limit is too small to run."""
    limit = address_space_limit()
    if limit is None:
        return None
    os.environ.setdefault("MALLOC_ARENA_MAX", str(ARENAS))
    libc = ctypes.util.find_library("c")
    if libc:
        ctypes.CDLL(libc).mallopt(M_ARENA_MAX, ARENAS)
    if limit >= MIN_ADDRESS_SPACE:
        return None
    return (
        f"the address-space limit (ulimit -v) is {limit / 2**30:.1f} GiB; embaug needs at least "
        f"{MIN_ADDRESS_SPACE / 2**30:.0f} GiB of address space (torch alone maps 3.3 GiB on "
        "import) though it stays near 1.5 GiB resident: raise the limit, or bound memory "
        "itself (a cgroup's MemoryMax) instead"
    )
