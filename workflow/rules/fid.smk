# FID and KID on the 256x256 patch protocol (DESIGN.md), and the download of pretrained weights.
# Inception features per sequence (the source once, every reconstruction), pooled per
# dataset x codec x rate point into reports/<preset>/fid.csv. Without the Inception weights the
# feature files record why and fid.csv says "not computed: missing ...; run `vcbench assets fetch`".
# Needs common.smk (plan, job_stem, source_of).


def assets_cache_arg():
    """--cache-dir from config `assets.cache_dir` (null: $VCBENCH_ASSETS_DIR, $TORCH_HOME, ~/.cache/torch)."""
    cache_dir = (config.get("assets") or {}).get("cache_dir")
    return f"--cache-dir {cache_dir}" if cache_dir else ""


def fid_inputs(wc):
    jobs = plan(wc.preset).jobs
    sources = sorted({f"results/{wc.preset}/{job.dataset}/{job.sequence}/source.inception.npz" for job in jobs})
    return sources + [f"{job.stem}.inception.npz" for job in jobs]


# The only rule that downloads (run it once, where there is network: `snakemake --cores 1 fetch_assets`).
# Nothing depends on it: metrics whose weights are absent are reported as not computed.
localrules:
    fetch_assets,


rule fetch_assets:
    output:
        "results/assets.json",
    params:
        cache=assets_cache_arg(),
    conda:
        TORCH_ENV
    log:
        "logs/assets/fetch.log",
    shell:
        "vcbench assets fetch {params.cache} --manifest {output} > {log} 2>&1"


rule fid_source_features:
    input:
        source_of,
    output:
        "results/{preset}/{dataset}/{sequence}/source.inception.npz",
    params:
        frames=lambda wc: plan(wc.preset).frames,
        cache=assets_cache_arg(),
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/fid/{dataset}/{sequence}/source.log",
    shell:
        "vcbench fid-features {input} {output} --frames {params.frames}"
        " --dataset {wildcards.dataset} --sequence {wildcards.sequence} {params.cache} > {log} 2>&1"


rule fid_features:
    input:
        "results/{preset}/{dataset}/{sequence}/{codec}/{rate}.rec.y4m",
    output:
        "results/{preset}/{dataset}/{sequence}/{codec}/{rate}.inception.npz",
    params:
        frames=lambda wc: plan(wc.preset).frames,
        cache=assets_cache_arg(),
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/fid/{dataset}/{sequence}/{codec}/{rate}.log",
    shell:
        "vcbench fid-features {input} {output} --frames {params.frames}"
        " --dataset {wildcards.dataset} --sequence {wildcards.sequence}"
        " --codec {wildcards.codec} --rate {wildcards.rate} {params.cache} > {log} 2>&1"


rule fid:
    input:
        fid_inputs,
    output:
        "reports/{preset}/fid.csv",
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/fid.log",
    shell:
        "vcbench fid {output} {input} > {log} 2>&1"
