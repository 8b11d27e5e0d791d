# GIViC's two analyses for the report, on the first sequence of every dataset for each GIViC codec of
# the preset (Plan.givic_analyses): quality against the number of sampling steps (one bitstream, the
# lowest rate point, decoded again; config `analysis.givic_steps`), and BD-rate and decoding complexity
# against the context length (`analysis.givic_contexts` at the ladder's first `givic_context_rates`
# points: the codec's own context length measures the ladder's bitstreams, every other is coded anew).


# The analysis records of a preset (the report rule's inputs). A lambda: `snakemake --lint` refuses
# functions beside rules in one file.
givic_analyses = lambda preset: plan(preset).givic_analyses


rule givic_steps:
    input:
        bitstream=bitstream_of,
        source=source_of,
    output:
        table=f"{layout.SAMPLING_STEPS_ANALYSIS}/steps.csv",
        figure=f"{layout.SAMPLING_STEPS_ANALYSIS}/steps.png",
        record=f"{layout.SAMPLING_STEPS_ANALYSIS}/{layout.ANALYSIS_RECORD}",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.record),
        steps=lambda wc: ",".join(str(n) for n in plan(wc.preset).analysis_setting("givic_steps")),
        metrics=",".join(ANALYSIS_METRICS),
        metric_options=ANALYSIS_METRIC_OPTIONS,
        options=codec_options,
    resources:
        gpu=1,
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.ANALYSIS_LOG, analysis="{rate}/sampling_steps"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench givic-analysis steps {input.bitstream} {input.source} --out-dir {params.out_dir} --steps {params.steps}"
        " --metrics {params.metrics} {params.metric_options} {params.options} --codec {wildcards.codec}"
        " --dataset {wildcards.dataset} --sequence {wildcards.sequence} --quiet > {log} 2>&1"


rule givic_context_reference:
    input:
        bitstream=bitstream_of,
        source=source_of,
    output:
        layout.CONTEXT_REFERENCE,
    params:
        context=lambda wc: plan(wc.preset).codec_option(wc.codec, "context"),
        knobs=rate_knobs,
        frames=frames_of,
        metrics=",".join(ANALYSIS_METRICS),
        metric_options=ANALYSIS_METRIC_OPTIONS,
        options=codec_options,
    resources:
        gpu=1,
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.ANALYSIS_LOG, analysis="context/reference_{rate}"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench givic-analysis context-point {input.source} --out {output} --bitstream {input.bitstream} --context {params.context}"
        " --rate-label {wildcards.rate} {params.knobs} --frames {params.frames} --metrics {params.metrics} {params.metric_options}"
        " {params.options} --quiet > {log} 2>&1"


rule givic_context_point:
    wildcard_constraints:
        context=r"\d+",
    input:
        source=source_of,
    output:
        record=layout.CONTEXT_POINT,
        bitstream=layout.CONTEXT_BITSTREAM,
    params:
        knobs=rate_knobs,
        frames=frames_of,
        metrics=",".join(ANALYSIS_METRICS),
        metric_options=ANALYSIS_METRIC_OPTIONS,
        options=codec_options,
        source_sha256=source_sha256,
    resources:
        gpu=1,
    priority: 10
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.ANALYSIS_LOG, analysis="context/L{context}_{rate}"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench givic-analysis context-point {input.source} --out {output.record} --context {wildcards.context}"
        " --rate-label {wildcards.rate} {params.knobs} --frames {params.frames} --metrics {params.metrics} {params.metric_options}"
        " {params.options} --quiet > {log} 2>&1"


rule givic_context:
    input:
        points=lambda wc: plan(wc.preset).givic_context_points(wc.dataset, wc.sequence, wc.codec),
    output:
        table=f"{layout.CONTEXT_ANALYSIS}/context.csv",
        points=f"{layout.CONTEXT_ANALYSIS}/context_points.csv",
        figure=f"{layout.CONTEXT_ANALYSIS}/context.png",
        record=f"{layout.CONTEXT_ANALYSIS}/{layout.ANALYSIS_RECORD}",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.record),
        reference=lambda wc: plan(wc.preset).codec_option(wc.codec, "context"),
    localrule: True
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.ANALYSIS_LOG, analysis="ladder/context_length"),
    shell:
        "vcbench givic-analysis context {input.points} --out-dir {params.out_dir} --reference {params.reference}"
        " --codec {wildcards.codec} --dataset {wildcards.dataset} --sequence {wildcards.sequence} > {log} 2>&1"
