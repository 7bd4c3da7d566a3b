"""Run a reader in a forked child, so libhdf5 crashing or hanging on a damaged file costs one
line, not the process.

Only files without a checksum (schema 1) go through here: filecheck verifies every schema-2
file's bytes before libhdf5 reads it. fork, not spawn: the child already has h5py and pandas
imported, so isolation costs milliseconds instead of a fresh interpreter.
"""

import faulthandler
import os
import pickle
import select
import signal
import time

from .filecheck import KvsimFileError

TIMEOUT_S = 120


def call(path, reader, *args):
    """reader(*args) in a child process; its result, or its KvsimFileError, raised here."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report through the pipe only, never return into the caller's stack
        status = 0
        try:
            os.close(rfd)
            faulthandler.disable()  # its report would go to the caller's stderr
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)  # libhdf5's or glibc's dying words would be a second line
            try:
                outcome = ("ok", reader(*args))
            except KvsimFileError as err:
                outcome = ("error", err)
            except Exception as err:  # anything else the damage provokes
                outcome = ("error", KvsimFileError(path, f"damaged kvsim file ({type(err).__name__}: {err})"))
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(wfd, view):]
        except BaseException:
            status = 3
        finally:
            os._exit(status)
    os.close(wfd)
    try:
        data = _read_all(rfd, pid, path)
    finally:
        os.close(rfd)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        raise KvsimFileError(path, f"damaged kvsim file (libhdf5 died with {name} reading it)")
    if not data:
        raise KvsimFileError(path, f"damaged kvsim file (the reader exited with status {os.WEXITSTATUS(status)})")
    kind, value = pickle.loads(data)
    if kind == "error":
        raise value
    return value


def _read_all(fd, pid, path):
    chunks, deadline = [], time.monotonic() + TIMEOUT_S
    while True:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise KvsimFileError(path, f"damaged kvsim file? (reading it took over {TIMEOUT_S} s; stopped)")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
