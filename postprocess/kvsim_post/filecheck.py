"""What is checked about a result file before libhdf5 sees it.

libhdf5 can hang (a FIFO), loop or crash (SIGSEGV, SIGABRT) on input that is not a sound HDF5
file, so everything that can be decided from the file's type and bytes is decided here:
  - the path must be a regular file, from os.stat alone: opening a FIFO for reading blocks;
  - a schema-2 file carries a CRC-32 of its contents in its 512-byte HDF5 user block
    (docs/hdf5-schema.md); a file whose checksum line is there must match it exactly, so any
    damage to a schema-2 file is refused here and libhdf5 only ever reads intact files;
  - a file without the line must at least carry the HDF5 signature where libhdf5 looks for it.
"""

import os
import re
import stat
import zlib

USERBLOCK = 512
CHECKSUM_LINE = re.compile(rb"kvsim-result crc32=([0-9a-f]{8}) length=([0-9]+)\n")
CHECKSUM_PREFIX = b"kvsim-result"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_CHUNK = 1 << 20

_KINDS = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
          (stat.S_ISSOCK, "socket"))


class KvsimFileError(Exception):
    """A result file that is missing, unreadable, damaged or not a complete kvsim file."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = " ".join(str(problem).split())  # one line, always
        super().__init__(f"{self.path}: {self.problem}")

    def __reduce__(self):  # crosses the pipe from isolate's child process
        return (KvsimFileError, (self.path, self.problem))


def damaged(path, why):
    return KvsimFileError(path, f"damaged result file (checksum mismatch: {why})")


def check(path):
    """Refuse what is not a readable regular file that could be kvsim's; True when the file is
    sealed (its checksum line matched), False when it has none (schema 1, or not kvsim's)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise KvsimFileError(path, "no such file") from None
    except OSError as err:
        raise KvsimFileError(path, f"cannot read file ({err.strerror or err})") from None
    if stat.S_ISDIR(st.st_mode):
        raise KvsimFileError(path, "is a directory, not a kvsim .h5 file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "special file")
        raise KvsimFileError(path, f"not a regular file (a {kind}): a kvsim result file is a regular .h5 file")
    try:
        f = open(path, "rb")  # a regular file: cannot block
    except OSError as err:
        raise KvsimFileError(path, f"cannot read file ({err.strerror or err})") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise KvsimFileError(path, "empty file (0 bytes): not a kvsim result file")
        head = f.read(USERBLOCK)
        if head.startswith(CHECKSUM_PREFIX):
            _verify(path, f, head, size)
            return True
        if not _has_hdf5_signature(f, size):
            raise KvsimFileError(path, "not an HDF5 file (no HDF5 signature at byte 0, 512, 1024, ...)")
        return False


def _verify(path, f, head, size):
    match = CHECKSUM_LINE.match(head)
    if match is None or len(head) < USERBLOCK or head[match.end():].strip(b"\0"):
        line = head.split(b"\n", 1)[0][:80].decode("ascii", errors="replace")
        raise damaged(path, f"malformed checksum line {line!r} in the {USERBLOCK}-byte user block")
    want_crc, length = match.group(1).decode(), int(match.group(2))
    if size != USERBLOCK + length:
        raise damaged(path, f"the checksum line says length={length}, but {size - USERBLOCK} bytes follow the user block")
    crc = 0
    while chunk := f.read(_CHUNK):
        crc = zlib.crc32(chunk, crc)
    if f"{crc:08x}" != want_crc:
        raise damaged(path, f"contents have crc32={crc:08x}, the checksum line says crc32={want_crc}")


def _has_hdf5_signature(f, size):
    """libhdf5 looks for its superblock at 0, 512, 1024, 2048, ... (user blocks are powers of two)."""
    offset = 0
    while offset + len(HDF5_SIGNATURE) <= size:
        f.seek(offset)
        if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
            return True
        offset = USERBLOCK if offset == 0 else offset * 2
    return False
