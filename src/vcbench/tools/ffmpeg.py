"""The ffmpeg binary that imageio-ffmpeg ships, and the one way vcbench runs it.

Used by the anchors (:mod:`vcbench.codecs.ffmpeg`), VMAF (:mod:`vcbench.metrics.vmaf`) and the demo
data (:mod:`vcbench.data.skvideo`). :func:`run_ffmpeg` never leaves an ffmpeg behind: whatever
interrupts it (Ctrl-C, the CLI's SIGTERM handler, any other exception) first stops the child
(SIGTERM, then SIGKILL after :data:`STOP_GRACE_S`), then propagates; and a vcbench killed outright
(``kill -9``, the OOM killer) takes its ffmpeg with it (:func:`dies_with_parent`). Output files are
the caller's: write them through :func:`vcbench.io.atomic_path`, which removes them on any exception
(after a ``kill -9`` nobody can: the temporary file is never renamed into place, and the next writer
of that target sweeps it).
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterable

import imageio_ffmpeg

from vcbench.errors import BitstreamError, ConfigError, VcbenchError

# SVT-AV1 logs to stderr whatever ffmpeg's -loglevel says; 1 = errors only.
_ENV = {**os.environ, "SVT_LOG": "1"}
#: seconds ffmpeg gets to exit after SIGTERM (it flushes its encoder on the first one) before SIGKILL
STOP_GRACE_S = 2.0
# ffmpeg exits with 255 when a signal stopped it; at -loglevel error it says nothing then.
_SIGNAL_EXIT = 255
# Lines of ffmpeg's own machinery (its demuxer, filter, encoder and muxer threads): on an encoder's
# failure they say "-22 Invalid argument" after the encoder's own line, which says why.
_FFMPEG_TASK = re.compile(r"^\[((vost|aost|ost|vist|ist|vf|af)#|(dec|enc):)|Nothing was written into output file|^Conversion failed!$")
_ADDRESS = re.compile(r" @ 0x[0-9a-f]+")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Resolved here, not in the child: between fork and exec the child must not load libraries.
# CDLL(None): the symbols already loaded, libc's among them; only Linux has prctl.
_prctl = getattr(ctypes.CDLL(None), "prctl", None) if os.name == "posix" else None


def dies_with_parent() -> None:
    """``preexec_fn`` of every child vcbench starts: the kernel sends it SIGKILL when vcbench dies,
    however it dies (Linux; elsewhere a no-op). SIGKILL, not SIGTERM: on SIGTERM ffmpeg would finish
    its stream, leaving a complete file that nobody checked. The parent is the thread that started
    the child; run_ffmpeg waits in that thread, so it outlives the child."""
    if _prctl is None:
        return
    parent = os.getppid()
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect: no signal will come
        os.kill(os.getpid(), signal.SIGKILL)


def ffmpeg_exe() -> str:
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()  # finds the bundled binary and checks that it runs
    except RuntimeError as err:
        raise ConfigError(f"ffmpeg: {err} (vcbench uses the binary that imageio-ffmpeg ships: reinstall it)") from None


@functools.cache
def ffmpeg_version() -> str:
    first = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    return first.split(" Copyright")[0].removeprefix("ffmpeg version ").strip()


def run_ffmpeg(args: list[str], what: str, stdin_frames: Iterable[bytes] | None = None, strict: bool = False) -> None:
    """Run ffmpeg with ``args`` (feeding ``stdin_frames`` to its stdin if given). A failure is a
    one-line error naming ``what`` with ffmpeg's last messages; ffmpeg stopped by a signal is
    reported as interrupted. ``strict``: any error message fails too (a decoder that conceals a
    damaged frame, as FFV1 does a slice whose CRC is wrong, says so but exits 0)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *(["-nostdin"] if stdin_frames is None else []), *args]
    # Output goes to a file: a pipe could fill up and deadlock while we feed stdin. stdout too:
    # VVenC prints its configuration warnings there.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL if stdin_frames is None else subprocess.PIPE,
                                stdout=log, stderr=log, env=_ENV, preexec_fn=dies_with_parent)
        try:
            if stdin_frames is not None:
                _feed(proc, stdin_frames)
            proc.wait()
        except BaseException:
            _stop(proc)
            raise
        log.seek(0)
        messages = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    check_exit(1 if strict and messages and proc.returncode == 0 else proc.returncode, messages, what)


def _feed(proc: subprocess.Popen, frames: Iterable[bytes]) -> None:
    try:
        for chunk in frames:
            proc.stdin.write(chunk)
    except BrokenPipeError:
        pass  # ffmpeg stopped reading: its exit code and messages say why
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass


def _stop(proc: subprocess.Popen) -> None:
    """Terminate ``proc``, kill it if it is still there after the grace period, and reap it."""
    try:
        proc.terminate()
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except BaseException:  # a second Ctrl-C while waiting: do not wait politely any more
        proc.kill()
        proc.wait()
        raise


def check_exit(returncode: int, messages: list[str], what: str) -> None:
    """Nothing for exit 0; else a one-line error: interrupted when a signal stopped ffmpeg, otherwise
    its exit code and the last three messages that say why (:func:`telling_messages`)."""
    if returncode == 0:
        return
    if returncode < 0 or (returncode == _SIGNAL_EXIT and not messages):
        by = signal.Signals(-returncode).name if returncode < 0 else "a signal"
        raise VcbenchError(f"{what}: interrupted: ffmpeg was stopped by {by}; run the step again")
    tail = " | ".join(telling_messages(messages)[-3:]) or "no message"
    raise BitstreamError(f"{what}: ffmpeg failed (exit {returncode}): {tail}")


def telling_messages(messages: list[str]) -> list[str]:
    """The encoder's, decoder's or library's own lines (``x265 [error]: ...``, ``[libx265] Cannot open
    ...``), without ffmpeg's task lines that follow them and the addresses that differ every run;
    all the lines where there is nothing else."""
    own = [line for line in messages if not _FFMPEG_TASK.search(line)]
    return [_ADDRESS.sub("", line) for line in (own or messages)]
