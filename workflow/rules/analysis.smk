# The codecs' analyses, one rule per stage of each analysis a configured codec declares (its package's
# analyses.py: vcbench.codecs.analyses). Plan.analysis_records says which records a preset's report reads;
# a stage's job is `vcbench analysis NAME --stage STAGE` with its files, the analysis' settings (config
# codecs.<key>.analyses.<name>), the codec's options and, for a stage that scores, the analysis metrics.
# Rules named analysis_<name> (the last stage) and analysis_<name>_<stage> (slurm/config.yaml's keys).

from vcbench.codecs.analyses import RATE, declared_analyses


def analysis_files(analysis, stage):
    """The input function of a stage's rule: every file its job reads (Plan.analysis_inputs)."""
    return lambda wc: [path for _, _, path in plan(wc.preset).analysis_inputs(analysis, stage, wc.dataset, wc.sequence, wc.codec,
                                                                              wc.get("rate"))]


def analysis_args(analysis, stage):
    """Its command's --input KIND LABEL FILE, -s SETTING=VALUE and, per rate point, -p KNOB=VALUE, --frames, --rate (and --item)."""

    def args(wc):
        preset_plan = plan(wc.preset)
        inputs = preset_plan.analysis_inputs(analysis, stage, wc.dataset, wc.sequence, wc.codec, wc.get("rate"))
        settings = {name: ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
                    for name, value in preset_plan.analysis_settings(wc.codec, analysis).items()}
        point = f"{rate_knobs(wc)} --frames {preset_plan.frames} --rate {wc.rate}" if stage.per == RATE else ""
        item = f"--item {wc.item}" if stage.over else ""
        return " ".join([*(f"--input {kind} {label} {path}" for kind, label, path in inputs), cli_pairs("-s", settings), point, item])

    return args


for _codec_name in sorted({entry["codec"] for entry in config["codecs"].values()}):
    for _analysis in declared_analyses(_codec_name):
        for _stage in _analysis.stages:
            _rate = "{rate}" if _stage.per == RATE else "ladder"
            _item = "_{item}" if _stage.over else ""

            rule:
                name:
                    _analysis.rule(_stage)
                wildcard_constraints:
                    codec="|".join(key for key, entry in config["codecs"].items() if entry["codec"] == _codec_name),
                    item="[A-Za-z0-9-]+",  # no "_": it joins the item and the rate in file names
                input:
                    source=source_of,
                    requires=codec_requires,
                    files=analysis_files(_analysis, _stage),
                output:
                    [f"{_analysis.folder(_stage)}/{name}" for name in _stage.writes],
                params:
                    out_dir=lambda wc, output: os.path.dirname(output[0]),
                    files=analysis_args(_analysis, _stage),
                    scoring=f"--metrics {','.join(ANALYSIS_METRICS)} {ANALYSIS_METRIC_OPTIONS}" if _stage.scores else "",
                    options=codec_options,
                    name=_analysis.name,
                    stage=_stage.name,
                resources:
                    gpu=int(_stage.gpu),
                # a stage that fans out over more values codes the sequence anew: the longest analysis jobs
                priority: 10 if _stage.over else 0
                localrule: _stage.local
                conda:
                    TORCH_ENV
                log:
                    layout.partial(layout.ANALYSIS_LOG, analysis=f"{_rate}/{_analysis.rule(_stage)}{_item}"),
                shell:
                    "VCBENCH_GPUS={resources.gpu} vcbench analysis {params.name} --stage {params.stage} --codec {wildcards.codec}"
                    " --dataset {wildcards.dataset} --sequence {wildcards.sequence} --source {input.source} --out-dir {params.out_dir}"
                    " {params.files} {params.scoring} {params.options} --quiet > {log} 2>&1"
