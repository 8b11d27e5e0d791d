# What a neural codec's decode computes (`vcbench decoder-cost`): multiply-accumulates per pixel, the parameters
# that ran and the denoiser's calls per frame, counted on one more decode of the bitstream. Every rate point of each
# neural codec on the first sequence of every dataset (Plan.decoder_cost_jobs): the count follows the rate and the
# frame size, hardly the content. The report shows it beside quality, with each job's time and peak memory.


rule decoder_cost:
    input:
        bitstream=bitstream_of,
        requires=codec_requires,
    output:
        layout.DECODER_COST,
    params:
        codec=codec_name,
        options=codec_options,
    resources:
        gpu=lambda wc: int(plan(wc.preset).uses_gpu(wc.codec)),
    threads: lambda wc: coding_threads(wc.codec)
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.JOB_LOG, stage="cost"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench decoder-cost {input.bitstream} --codec {params.codec} {params.options}"
        " --out {output} > {log} 2>&1"
