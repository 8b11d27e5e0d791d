# FID and KID on the 256x256 patch protocol, and the download of pretrained weights.
# Inception features per sequence (the source once, every reconstruction), pooled per
# dataset x codec x rate point into reports/<preset>/fid.csv. Planned only when the Inception weights
# are present (Plan.unavailable_metrics): without them no FID job runs, and the report says
# "fid, kid: missing ...; run `vcbench assets fetch`". (A present file whose sha256 is wrong is caught
# by the feature jobs, whose files then record why, as fid.csv does.)


# The only job that downloads (run it once, where there is network: `snakemake --cores 1 fetch_assets`).
# Nothing depends on it: metrics whose weights are absent are not planned, and the report says so.
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
        frames=frames_of,
        cache=assets_cache_arg(),
        source_sha256=source_sha256,
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
        frames=frames_of,
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
