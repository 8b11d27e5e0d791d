# Score a reconstruction against its source, then gather every job's summary into rd.csv. The reconstruction is
# a neural codec's kept FFV1 copy or an anchor's bitstream, decoded by vcbench score into its scratch (decode.smk):
# a changed metric or metric option reruns the score jobs, never a decode.


rule score:
    # Not grouped on a cluster (slurm/config.yaml says why). A GPU when a metric runs a network
    # (LPIPS, DISTS: Plan.score_uses_gpu); the other metrics' pools use the threads (tools/threads.py).
    input:
        reference=source_of,
        reconstruction=reconstruction_of,
        encode_record=layout.ENCODE_RECORD,
        decode_record=layout.DECODE_RECORD,
    output:
        frames=layout.FRAMES,
        summary=layout.SUMMARY,
        preview=layout.PREVIEW,
    params:
        metrics=",".join(FRAME_METRICS),  # those whose weights are present: the report says why of the others
        metric_options=METRIC_OPTIONS,
        cache=ASSETS_CACHE,
        frames=frames_of,
    resources:
        gpu=int(PLAN.score_uses_gpu),
    threads: SIDE_BY_SIDE_THREADS
    conda:
        TORCH_ENV  # MS-SSIM and the learned metrics
    log:
        layout.partial(layout.JOB_LOG, stage="score"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench score {input.reference} {input.reconstruction} --metrics {params.metrics} --frames {params.frames}"
        " {params.metric_options} {params.cache} --encode-record {input.encode_record} --decode-record {input.decode_record}"
        " --dataset {wildcards.dataset} --sequence {wildcards.sequence} --codec {wildcards.codec}"
        " --frames-csv {output.frames} --summary {output.summary} --preview {output.preview} --quiet > {log} 2>&1"


rule aggregate:
    input:
        lambda wc: [job.summary for job in plan(wc.preset).jobs],
    output:
        layout.RD,
    params:
        config_hash=CONFIG_HASH,
    conda:
        FFMPEG_ENV
    log:
        layout.partial(layout.PRESET_LOG, step="aggregate"),
    shell:
        "vcbench aggregate {input} --out {output} --config-hash {params.config_hash} > {log} 2>&1"
