"""The `vcbench` command line. Each concern defines its own click commands in its package, and each
codec those it brings (`CodecFacts.commands`); this module only gathers them, so `vcbench --help`
lists everything a user can do."""

from __future__ import annotations

import signal
import sys
import threading

import click

from vcbench.errors import ConfigError, VcbenchError
from vcbench.lazy import resolve
from vcbench.tools.gpus import claim_job_gpus

# "module:attribute" of every click command or group; add a line to add a command.
_COMMANDS = [
    "vcbench.commands.coding:encode",
    "vcbench.commands.coding:decode",
    "vcbench.commands.decoder_cost:decoder_cost",
    "vcbench.commands.declared:options",
    "vcbench.commands.scoring:score",
    "vcbench.commands.data:data",
    "vcbench.commands.aggregate:aggregate",
    "vcbench.commands.assets:assets",
    "vcbench.commands.fid:fid_features",
    "vcbench.commands.fid:fid",
    "vcbench.commands.models:train_prior",
    "vcbench.commands.backbone:backbone",
    "vcbench.commands.analysis:analysis",
    "vcbench.commands.report:bd",
    "vcbench.commands.report:bd_table",
    "vcbench.commands.report:plots",
    "vcbench.commands.report:provenance",
    "vcbench.commands.report:report",
    "vcbench.commands.report:track",
    "vcbench.commands.verify:verify",
    "vcbench.commands.study:study",
    "vcbench.commands.metric:metric",
]


def _name(spec: str) -> str:
    return spec.split(":")[1].replace("_", "-")


def _codec_commands() -> list[str]:
    """The commands the registered codecs bring (`CodecFacts.commands`), read from their torch-free facts; a name
    that a built-in command or another codec's has already taken is refused (else one would hide the other)."""
    from vcbench.codecs.registry import available_codecs, codec_entry

    builtin = {_name(spec) for spec in _COMMANDS}
    owner: dict[str, str] = {}  # command name -> the codec that brings it
    specs = []
    for codec in available_codecs():
        for spec in codec_entry(codec).commands:
            name = _name(spec)
            if name in builtin:
                raise ConfigError(f"codec {codec}: its command {name!r} ({spec}) is already a built-in command; rename its function")
            if name in owner:
                raise ConfigError(f"codecs {owner[name]} and {codec} both bring a command {name!r}; rename one's function")
            owner[name] = codec
            specs.append(spec)
    return specs


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (torch stays unloaded for ffmpeg work)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_name(spec) for spec in [*_COMMANDS, *_codec_commands()])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # the built-in commands first: running one of them reads no codec's facts
        spec = next((s for s in _COMMANDS if _name(s) == cmd_name), None) or \
            next((s for s in _codec_commands() if _name(s) == cmd_name), None)
        return resolve(spec) if spec is not None else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vcbench")
def cli() -> None:
    """vcbench: encode, decode and score video codecs at extremely low bitrates.

    The Snakemake workflow (`snakemake --cores all`) runs these commands over a whole preset;
    use them directly to try one codec on one file.
    """


class Terminated(KeyboardInterrupt):
    """SIGTERM (Slurm's scancel, a job timeout, kill): unwinds like Ctrl-C, so every ``finally`` runs,
    atomic writers remove their temporary files and the ffmpeg runner stops its child."""


def _on_sigterm(signum: int, frame) -> None:
    # Later SIGTERMs (Slurm repeats them) must not cut the clean-up short; the first one already unwinds.
    signal.signal(signal.SIGTERM, lambda *_: None)
    raise Terminated()


def _interrupted(err: KeyboardInterrupt) -> None:
    name, code = ("SIGTERM", 143) if isinstance(err, Terminated) else ("Ctrl-C", 130)
    click.echo(f"vcbench: interrupted ({name}); temporary files removed, no partial output kept", err=True)
    sys.exit(code)


def _os_error_line(err: OSError) -> str:
    """One line naming the path (the target of a failed rename) and the reason."""
    where = err.filename2 if err.filename2 is not None else err.filename
    reason = err.strerror or str(err)
    return f"vcbench: error: {where}: {reason}" if where is not None else f"vcbench: error: {reason}"


def main() -> None:
    in_main_thread = threading.current_thread() is threading.main_thread()  # where Python delivers signals
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        _run()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run() -> None:
    try:
        claim_job_gpus()  # before torch starts: the GPUs this job asked for (tools/gpus.py)
        cli.main(standalone_mode=False)
    except VcbenchError as err:
        click.echo(f"vcbench: error: {err}", err=True)
        sys.exit(2)
    except click.exceptions.Abort as err:
        if isinstance(err.__cause__, KeyboardInterrupt):  # click turns an interrupt inside a command into Abort
            _interrupted(err.__cause__)
        click.echo("vcbench: aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt as err:  # one that came before or after the command ran
        _interrupted(err)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except OSError as err:  # read-only folder, permissions, disk full: the path and the reason, no traceback
        click.echo(_os_error_line(err), err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
