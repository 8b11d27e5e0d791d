# Score a reconstruction against its source, then gather every job's summary into rd.csv.


rule score:
    # On a cluster, many score jobs share one submission (slurm/config.yaml: group-components).
    group:
        "score"
    input:
        reference=source_of,
        reconstruction="results/{preset}/{dataset}/{sequence}/{codec}/{rate}.rec.y4m",
        encode_record="results/{preset}/{dataset}/{sequence}/{codec}/{rate}.encode.json",
        decode_record="results/{preset}/{dataset}/{sequence}/{codec}/{rate}.decode.json",
    output:
        frames="results/{preset}/{dataset}/{sequence}/{codec}/{rate}.frames.csv",
        summary="results/{preset}/{dataset}/{sequence}/{codec}/{rate}.summary.json",
        preview="results/{preset}/{dataset}/{sequence}/{codec}/{rate}.preview.png",
    params:
        metrics=",".join(FRAME_METRICS),  # those whose weights are present: the report says why of the others
        metric_options=METRIC_OPTIONS,
        frames=frames_of,
    conda:
        TORCH_ENV  # MS-SSIM and the learned metrics
    log:
        "logs/{preset}/score/{dataset}/{sequence}/{codec}/{rate}.log",
    shell:
        "vcbench score {input.reference} {input.reconstruction} --metrics {params.metrics} --frames {params.frames}"
        " {params.metric_options} --encode-record {input.encode_record} --decode-record {input.decode_record}"
        " --dataset {wildcards.dataset} --sequence {wildcards.sequence} --codec {wildcards.codec}"
        " --frames-csv {output.frames} --summary {output.summary} --preview {output.preview} --quiet > {log} 2>&1"


rule aggregate:
    input:
        lambda wc: [job.summary for job in plan(wc.preset).jobs],
    output:
        "reports/{preset}/rd.csv",
    params:
        config_hash=CONFIG_HASH,
    conda:
        FFMPEG_ENV
    log:
        "logs/{preset}/aggregate.log",
    shell:
        "vcbench aggregate {input} --out {output} --config-hash {params.config_hash} > {log} 2>&1"
