# Aggregate stage: rd.csv -> bd.csv, plots, provenance, MLflow runs, index.html + report.md, MLflow artifacts.
# Only these jobs talk to MLflow (parallel jobs only write files). All are light: they run locally.
# The report's settings (anchor, BD method and metrics, tracking) are params: changing one reruns what it shapes.
# Each command is given every file it reads (--rd, --bd, --frames, ...) from its rule's inputs: what a rule declares is
# what it reads, so a missing file stops the DAG instead of leaving a gap in the report.


rule bd_table:
    input:
        rd=layout.RD,
        fid=fid_table_input,
    output:
        layout.BD,
    localrule: True
    params:
        anchor=REPORT["anchor"],
        also_against=ALSO_AGAINST,
        method=REPORT["bd_method"],
        metrics=BD_METRICS,
        fid=fid_table_arg,
        span=PLAN.bd_span_args,  # the fixed bpp interval and the coverage below which BD is not defined
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.REPORT_LOG, step="bd_table"),
    shell:
        "vcbench bd-table --rd {input.rd} {params.fid} --out {output} --anchor {params.anchor} {params.also_against}"
        " --method {params.method} --metrics {params.metrics} {params.span} > {log} 2>&1"


rule plots:
    input:
        rd=layout.RD,
        # every job's per-frame scores and preview and every sequence (the figures show the rate points rd.csv puts nearest
        # the preview bpp); the same files, by key, in params.files
        frames=lambda wc: list(plan(wc.preset).job_files(layout.FRAMES).values()),
        previews=lambda wc: list(plan(wc.preset).job_files(layout.PREVIEW).values()),
        sources=lambda wc: [ancient(path) for path in plan(wc.preset).sources()],
        decoder_costs=lambda wc: list(plan(wc.preset).decoder_cost_files().values()),  # the plot of quality against them
        analyses=lambda wc: analysis_records(wc.preset),  # their quality against the sampling steps, on shared axes
    output:
        directory(layout.PLOTS),
    params:
        files=lambda wc: plots_file_args(wc) + " " + keyed_args("--decoder-cost", plan(wc.preset).decoder_cost_files()),
        analyses=lambda wc, input: " ".join(f"--analysis {path}" for path in input.analyses),
        metrics=BD_METRICS,
        preview_bpp=REPORT["preview_rate_bpp"],
    localrule: True
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.REPORT_LOG, step="plots"),
    shell:
        "vcbench plots --rd {input.rd} --out {output} {params.files} --metrics {params.metrics} --preview-bpp {params.preview_bpp}"
        " {params.analyses} > {log} 2>&1"


rule provenance:
    input:
        rd=layout.RD,
        bd=layout.BD,
        # every job's records, whose provenance blocks name the code that made each number (by key in params.records)
        records=lambda wc: [path for template in JOB_RECORDS.values() for path in plan(wc.preset).job_files(template).values()],
    output:
        layout.PROVENANCE,
    params:
        records=lambda wc: record_args(wc, JOB_RECORDS),
    localrule: True
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.REPORT_LOG, step="provenance"),
    shell:
        "vcbench provenance --preset {wildcards.preset} --rd {input.rd} --bd {input.bd} {params.records} --out {output} > {log} 2>&1"


# What each child run reads of its RD point, by the option that passes it.
MLFLOW_RUN_FILES = {**JOB_RECORDS, "--frames": layout.FRAMES}


rule mlflow_runs:
    input:
        rd=layout.RD,
        bd=layout.BD,
        # every job's records (its times and hashes) and frames.csv (its per-frame metrics), by key in params.records
        records=lambda wc: [path for template in MLFLOW_RUN_FILES.values() for path in plan(wc.preset).job_files(template).values()],
    output:
        layout.MLFLOW_RUNS,
    localrule: True
    params:
        records=lambda wc: record_args(wc, MLFLOW_RUN_FILES),
        tracking=TRACKING_ARGS,
        anchor=REPORT["anchor"],
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.REPORT_LOG, step="mlflow_runs"),
    shell:
        "vcbench track --stage runs --preset {wildcards.preset} --rd {input.rd} --bd {input.bd} {params.records} --out {output}"
        " --anchor {params.anchor} {params.tracking}"
        " > {log} 2>&1"


# What the report reads of every RD point besides rd.csv, by the option that passes it: the run's first start and last
# end (encode records, score summaries) and each job's peak memory (the encode and decode rules' benchmarks).
REPORT_JOB_FILES = {"--encode-record": layout.ENCODE_RECORD, "--summary": layout.SUMMARY,
                    "--encode-timing": layout.ENCODE_TIMING, "--decode-timing": layout.DECODE_TIMING}


rule report:
    input:
        rd=layout.RD,
        bd=layout.BD,
        plots=layout.PLOTS,
        provenance=layout.PROVENANCE,
        runs=layout.MLFLOW_RUNS,
        fid=fid_table_input,
        # every codec's analysis records (analysis.smk)
        # (and the preset's subjective study once `vcbench study scale` has scaled its answers; never a target)
        analyses=lambda wc: analysis_records(wc.preset)
        + scaled_study(wc.preset),
        backbone_checks=lambda wc: [layout.fill(layout.BACKBONE_CHECK, preset=wc.preset, backbone=name) for name in plan(wc.preset).backbones],
        # by key in params.job_files: every job's records and timings, the neural decoders' counts (cost.smk)
        job_files=lambda wc: [path for template in REPORT_JOB_FILES.values() for path in plan(wc.preset).job_files(template).values()],
        decoder_costs=lambda wc: list(plan(wc.preset).decoder_cost_files().values()),
    output:
        html=layout.HTML,
        md=layout.MARKDOWN,
    params:
        anchor=REPORT["anchor"],
        method=REPORT["bd_method"],
        fid=fid_table_arg,
        # the metrics left out of the plan (their weights are absent), each with why and the fix
        not_computed=lambda wc: not_computed_args(plan(wc.preset)),
        analyses=lambda wc, input: " ".join(f"--analysis {path}" for path in input.analyses),
        backbone_checks=lambda wc, input: " ".join(f"--backbone-check {path}" for path in input.backbone_checks),
        job_files=lambda wc: record_args(wc, REPORT_JOB_FILES) + " "
        + keyed_args("--decoder-cost", plan(wc.preset).decoder_cost_files()),
    localrule: True
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.REPORT_LOG, step="report"),
    shell:
        "vcbench report --preset {wildcards.preset} --rd {input.rd} --bd {input.bd} --plots {input.plots}"
        " --provenance {input.provenance} --runs {input.runs} {params.fid} --html {output.html} --md {output.md}"
        " --anchor {params.anchor} --method {params.method} {params.not_computed} {params.analyses} {params.backbone_checks}"
        " {params.job_files} > {log} 2>&1"


rule mlflow:
    input:
        runs=layout.MLFLOW_RUNS,
        rd=layout.RD,
        bd=layout.BD,
        html=layout.HTML,
        md=layout.MARKDOWN,
        provenance=layout.PROVENANCE,
        plots=layout.PLOTS,
        fid=fid_table_input,
        analyses=rules.report.input.analyses,  # the report's analysis records, with their figures and tables
    output:
        layout.MLFLOW,
    params:
        fid=lambda wc, input: f"--artifact {input.fid}" if input.fid else "",
        analyses=lambda wc, input: " ".join(f"--analysis {path}" for path in input.analyses),
    localrule: True
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.REPORT_LOG, step="mlflow"),
    shell:
        "vcbench track --stage artifacts --runs {input.runs} --artifact {input.rd} --artifact {input.bd} --artifact {input.provenance}"
        " --artifact {input.html} --artifact {input.md} {params.fid} --artifact-dir {input.plots} {params.analyses}"
        " --out {output} > {log} 2>&1"
