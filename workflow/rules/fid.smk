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
        layout.ASSETS_MANIFEST,
    params:
        cache=ASSETS_CACHE,
    conda:
        TORCH_ENV
    log:
        layout.ASSETS_LOG,
    shell:
        "vcbench assets fetch {params.cache} --manifest {output} > {log} 2>&1"


rule fid_source_features:
    input:
        source_of,
    output:
        layout.SOURCE_INCEPTION,
    params:
        frames=frames_of,
        cache=ASSETS_CACHE,
        source_sha256=source_sha256,
    # an Inception network over every frame's patches: on a GPU (device auto), the CPU reads and cuts the frames
    resources:
        gpu=1,
    threads: PARALLEL_THREADS
    conda:
        TORCH_ENV
    log:
        layout.SOURCE_FEATURES_LOG,
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench fid-features {input} {output} --frames {params.frames}"
        " --dataset {wildcards.dataset} --sequence {wildcards.sequence} {params.cache} > {log} 2>&1"


rule fid_features:
    input:
        # a neural codec's kept copy, or an anchor's bitstream decoded in the job's scratch (decode.smk)
        reconstruction=reconstruction_of,
        like=source_of,
    output:
        layout.INCEPTION,
    params:
        frames=frames_of,
        cache=ASSETS_CACHE,
    # an Inception network over every frame's patches: on a GPU (device auto), the CPU reads and cuts the frames
    resources:
        gpu=1,
    threads: PARALLEL_THREADS
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.JOB_LOG, stage="fid"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench fid-features {input.reconstruction} {output} --like {input.like} --frames {params.frames}"
        " --dataset {wildcards.dataset} --sequence {wildcards.sequence}"
        " --codec {wildcards.codec} --rate {wildcards.rate} {params.cache} > {log} 2>&1"


rule fid:
    input:
        fid_inputs,
    output:
        layout.FID,
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.PRESET_LOG, step="fid"),
    shell:
        "vcbench fid {output} {input} > {log} 2>&1"
