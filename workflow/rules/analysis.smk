# DiV-INR's denoising analysis (config `analysis.denoising_steps`, or the preset's): decodes a
# finished bitstream again (never re-encodes), recording each step's predicted clean frames and
# trying each number of sampling steps.


rule denoising_analysis:
    input:
        bitstream=bitstream_of,
        source=source_of,
        requires=codec_requires,
    output:
        per_step=f"{layout.DENOISING_ANALYSIS}/per_step.csv",
        per_step_count=f"{layout.DENOISING_ANALYSIS}/per_step_count.csv",
        figure=f"{layout.DENOISING_ANALYSIS}/denoising.png",
        record=f"{layout.DENOISING_ANALYSIS}/{layout.ANALYSIS_RECORD}",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.record),
        metrics=",".join(ANALYSIS_METRICS),
        metric_options=ANALYSIS_METRIC_OPTIONS,
        options=codec_options,
        steps=lambda wc: ",".join(str(n) for n in plan(wc.preset).denoising_steps),
    resources:
        gpu=1,
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.JOB_LOG, stage="analysis"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench denoising-analysis {input.bitstream} {input.source} --out-dir {params.out_dir} --steps {params.steps}"
        " --job {wildcards.dataset}/{wildcards.sequence}/{wildcards.codec}/{wildcards.rate}"
        " --metrics {params.metrics} {params.metric_options} {params.options} --quiet > {log} 2>&1"
