# Aggregate stage: rd.csv -> bd.csv, plots, provenance, MLflow runs, index.html + report.md, MLflow artifacts.
# Only these rules talk to MLflow (parallel jobs only write files). All are light: run them locally.
import shlex

REPORT = config.get("report", {})
TRACKING = config.get("tracking", {})
REPORT_ANCHOR = REPORT.get("anchor", "x265")
ALSO_AGAINST = " ".join(f"--also-against {name}" for name in REPORT.get("also_against", []))
REPORT_METHOD = REPORT.get("bd_method", "pchip")
REPORT_METRICS = ",".join(REPORT.get("bd_metrics", ["psnr_yuv", "psnr_y", "ms_ssim", "vmaf", "vmaf_neg", "lpips", "dists", "fid"]))
TRACKING_ARGS = " ".join(
    [f"--experiment {shlex.quote(TRACKING.get('experiment', 'vcbench'))}"]
    + ([f"--tracking-uri {shlex.quote(TRACKING['tracking_uri'])}"] if TRACKING.get("tracking_uri") else [])
)



def fid_table_input(wc):
    """fid.csv (pooled FID/KID) only when fid is a configured metric; otherwise nothing to wait for."""
    return [f"reports/{wc.preset}/fid.csv"] if "fid" in config["metrics"] else []


def fid_table_arg(wc, input):
    return f"--fid {input.fid}" if input.fid else "--skip-fid"


rule bd_table:
    input:
        rd="reports/{preset}/rd.csv",
        fid=fid_table_input,
    output:
        "reports/{preset}/bd.csv",
    localrule: True
    params:
        fid=fid_table_arg,
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/report/bd_table.log",
    shell:
        "vcbench bd-table --preset {wildcards.preset} --anchor {REPORT_ANCHOR} {ALSO_AGAINST} --method {REPORT_METHOD}"
        " --metrics {REPORT_METRICS} {params.fid} > {log} 2>&1"


rule plots:
    input:
        rd="reports/{preset}/rd.csv",
    output:
        directory("reports/{preset}/plots"),
    params:
        preview_bpp=REPORT.get("preview_rate_bpp", 0.02),
    localrule: True
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/report/plots.log",
    shell:
        "vcbench plots --preset {wildcards.preset} --metrics {REPORT_METRICS} --preview-bpp {params.preview_bpp} > {log} 2>&1"


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
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/report/mlflow_runs.log",
    shell:
        "vcbench track --preset {wildcards.preset} --stage runs {TRACKING_ARGS} > {log} 2>&1"


rule report:
    input:
        rd="reports/{preset}/rd.csv",
        bd="reports/{preset}/bd.csv",
        plots="reports/{preset}/plots",
        provenance="reports/{preset}/provenance.json",
        runs="reports/{preset}/mlflow_runs.json",
        fid=fid_table_input,
        analyses=lambda wc: denoising_analyses(wc.preset),
    output:
        html="reports/{preset}/index.html",
        md="reports/{preset}/report.md",
    params:
        fid=fid_table_arg,
        analyses=lambda wc, input: " ".join(f"--analysis {path}" for path in input.analyses),
    localrule: True
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/report/report.log",
    shell:
        "vcbench report --preset {wildcards.preset} --anchor {REPORT_ANCHOR} --method {REPORT_METHOD} {params.fid}"
        " {params.analyses} > {log} 2>&1"


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
