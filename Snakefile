# vcbench: the experiment DAG. `snakemake --cores all` runs the demo preset end to end;
# `--config preset=smoke` a tiny check; `--profile slurm` the same on a Slurm GPU cluster.
# Rules are thin: each maps its wildcards to one `vcbench` command. The plan of which jobs a
# preset fans out to lives in src/vcbench/workflow.py.
import sys

from snakemake.utils import min_version

from vcbench.config_check import check_config
from vcbench.errors import VcbenchError
from vcbench.run_progress import announce_report

min_version("9.0")


configfile: "config/config.yaml"


# The schema, then the whole plan against what the code declares (codec options and rate knobs,
# anchors, metric options): a bad value stops every run, `-n` included, with one line naming its
# key path, the value and what is allowed. The config files are read again strictly: a key given
# twice, which Snakemake's YAML reading resolves silently, is an error naming both lines.
try:
    check_config(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml", workflow.configfiles)
except VcbenchError as err:
    sys.exit(f"vcbench: error: {err}")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/encode.smk"
include: "workflow/rules/decode.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/cost.smk"
include: "workflow/rules/fid.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/diffvc.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/verify.smk"
include: "workflow/rules/study.smk"


rule all:
    default_target: True
    input:
        layout.fill(layout.RD, preset=PRESET),
        layout.fill(layout.HTML, preset=PRESET),
        layout.fill(layout.MARKDOWN, preset=PRESET),
        layout.fill(layout.PROVENANCE, preset=PRESET),
        layout.fill(layout.MLFLOW, preset=PRESET),
        # FID/KID (no target without the Inception weights: its jobs would compute nothing)
        [layout.fill(layout.FID, preset=PRESET)] if "fid" in PLAN.available_metrics else [],
        analysis_records(PRESET),


# The run's last line names the report (the vcbench logger prints it after Snakemake's summary).
onsuccess:
    announce_report(layout.fill(layout.HTML, preset=PRESET))
