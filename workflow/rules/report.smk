# Aggregate stage: rd.csv -> bd.csv, plots, provenance, MLflow runs, index.html + report.md, MLflow artifacts.
# Only these jobs talk to MLflow (parallel jobs only write files). All are light: they run locally.
# The report's settings (anchor, BD method and metrics, tracking) are params: changing one reruns what it shapes.


rule bd_table:
    input:
        rd="reports/{preset}/rd.csv",
        fid=fid_table_input,
    output:
        "reports/{preset}/bd.csv",
    localrule: True
    params:
        anchor=REPORT["anchor"],
        also_against=ALSO_AGAINST,
        method=REPORT["bd_method"],
        metrics=BD_METRICS,
        fid=fid_table_arg,
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/report/bd_table.log",
    shell:
        "vcbench bd-table --preset {wildcards.preset} --anchor {params.anchor} {params.also_against} --method {params.method}"
        " --metrics {params.metrics} {params.fid} > {log} 2>&1"


rule plots:
    input:
        rd="reports/{preset}/rd.csv",
    output:
        directory("reports/{preset}/plots"),
    params:
        metrics=BD_METRICS,
        preview_bpp=REPORT["preview_rate_bpp"],
    localrule: True
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/report/plots.log",
    shell:
        "vcbench plots --preset {wildcards.preset} --metrics {params.metrics} --preview-bpp {params.preview_bpp} > {log} 2>&1"


rule provenance:
    input:
        rd="reports/{preset}/rd.csv",
        bd="reports/{preset}/bd.csv",
    output:
        "reports/{preset}/provenance.json",
    localrule: True
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/report/provenance.log",
    shell:
        "vcbench provenance --preset {wildcards.preset} > {log} 2>&1"


rule mlflow_runs:
    input:
        rd="reports/{preset}/rd.csv",
        bd="reports/{preset}/bd.csv",
    output:
        "reports/{preset}/mlflow_runs.json",
    localrule: True
    params:
        tracking=TRACKING_ARGS,
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/report/mlflow_runs.log",
    shell:
        "vcbench track --preset {wildcards.preset} --stage runs {params.tracking} > {log} 2>&1"


rule report:
    input:
        rd="reports/{preset}/rd.csv",
        bd="reports/{preset}/bd.csv",
        plots="reports/{preset}/plots",
        provenance="reports/{preset}/provenance.json",
        runs="reports/{preset}/mlflow_runs.json",
        fid=fid_table_input,
        # every codec's analysis records (DiV-INR: analysis.smk; DiffVC, GIViC: their rule files)
        analyses=lambda wc: denoising_analyses(wc.preset) + diffvc_analyses(wc.preset) + givic_analyses(wc.preset),
        backbone_checks=lambda wc: [f"reports/{wc.preset}/backbones/{name}.json" for name in plan(wc.preset).backbones],
    output:
        html="reports/{preset}/index.html",
        md="reports/{preset}/report.md",
    params:
        anchor=REPORT["anchor"],
        method=REPORT["bd_method"],
        fid=fid_table_arg,
        # the metrics left out of the plan (their weights are absent), each with why and the fix
        not_computed=lambda wc: not_computed_args(plan(wc.preset)),
        analyses=lambda wc, input: " ".join(f"--analysis {path}" for path in input.analyses),
        backbone_checks=lambda wc, input: " ".join(f"--backbone-check {path}" for path in input.backbone_checks),
    localrule: True
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/report/report.log",
    shell:
        "vcbench report --preset {wildcards.preset} --anchor {params.anchor} --method {params.method} {params.fid}"
        " {params.not_computed} {params.analyses} {params.backbone_checks} > {log} 2>&1"


rule mlflow:
    input:
        runs="reports/{preset}/mlflow_runs.json",
        html="reports/{preset}/index.html",
        md="reports/{preset}/report.md",
        provenance="reports/{preset}/provenance.json",
        plots="reports/{preset}/plots",
    output:
        "reports/{preset}/mlflow.json",
    localrule: True
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/report/mlflow.log",
    shell:
        "vcbench track --preset {wildcards.preset} --stage artifacts > {log} 2>&1"
