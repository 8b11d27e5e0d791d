"""The `vcbench` command line. Each concern defines its own click commands in its package;
this module only gathers them, so `vcbench --help` lists everything a user can do."""

from __future__ import annotations

import importlib
import sys

import click

from vcbench.errors import VcbenchError

# "module:attribute" of every click command or group; add a line to add a command.
_COMMANDS = [
    "vcbench.commands.coding:encode",
    "vcbench.commands.coding:decode",
    "vcbench.commands.scoring:score",
    "vcbench.commands.data:data",
    "vcbench.commands.aggregate:aggregate",
    "vcbench.commands.assets:assets",
    "vcbench.commands.fid:fid_features",
    "vcbench.commands.fid:fid",
    "vcbench.commands.models:train_prior",
    "vcbench.commands.analysis:denoising_analysis",
    "vcbench.commands.report:bd",
    "vcbench.commands.report:bd_table",
    "vcbench.commands.report:plots",
    "vcbench.commands.report:provenance",
    "vcbench.commands.report:report",
    "vcbench.commands.report:track",
]


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (torch stays unloaded for ffmpeg work)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(spec.split(":")[1].replace("_", "-") for spec in _COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for spec in _COMMANDS:
            module_name, attr = spec.split(":")
            if attr.replace("_", "-") == cmd_name:
                return getattr(importlib.import_module(module_name), attr)
        return None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vcbench")
def cli() -> None:
    """vcbench: encode, decode and score video codecs at extremely low bitrates.

    The Snakemake workflow (`snakemake --cores all`) runs these commands over a whole preset;
    use them directly to try one codec on one file.
    """


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except VcbenchError as err:
        click.echo(f"vcbench: error: {err}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("vcbench: aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
