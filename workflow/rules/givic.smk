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
        table="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/{rate}/sampling_steps/steps.csv",
        figure="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/{rate}/sampling_steps/steps.png",
        record="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/{rate}/sampling_steps/analysis.json",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.record),
        steps=lambda wc: ",".join(str(n) for n in plan(wc.preset).givic_setting("givic_steps")),
        metrics=",".join(FRAME_METRICS),
        metric_options=METRIC_OPTIONS,
        options=codec_options,
    resources:
        gpu=1,
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/analysis/{dataset}/{sequence}/{codec}/{rate}/sampling_steps.log",
    shell:
        "vcbench givic-analysis steps {input.bitstream} {input.source} --out-dir {params.out_dir} --steps {params.steps}"
        " --metrics {params.metrics} {params.metric_options} {params.options} --codec {wildcards.codec}"
        " --dataset {wildcards.dataset} --sequence {wildcards.sequence} --quiet > {log} 2>&1"


rule givic_context_reference:
    input:
        bitstream=bitstream_of,
        source=source_of,
    output:
        "results/{preset}/{dataset}/{sequence}/{codec}/context/reference_{rate}.json",
    params:
        context=lambda wc: plan(wc.preset).codec_option(wc.codec, "context"),
        knobs=rate_knobs,
        frames=frames_of,
        metrics=",".join(FRAME_METRICS),
        metric_options=METRIC_OPTIONS,
        options=codec_options,
    resources:
        gpu=1,
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/analysis/{dataset}/{sequence}/{codec}/context/reference_{rate}.log",
    shell:
        "vcbench givic-analysis context-point {input.source} --out {output} --bitstream {input.bitstream} --context {params.context}"
        " --rate-label {wildcards.rate} {params.knobs} --frames {params.frames} --metrics {params.metrics} {params.metric_options}"
        " {params.options} --quiet > {log} 2>&1"


rule givic_context_point:
    wildcard_constraints:
        context=r"\d+",
    input:
        source=source_of,
    output:
        record="results/{preset}/{dataset}/{sequence}/{codec}/context/L{context}_{rate}.json",
        bitstream="results/{preset}/{dataset}/{sequence}/{codec}/context/L{context}_{rate}.givic",
    params:
        knobs=rate_knobs,
        frames=frames_of,
        metrics=",".join(FRAME_METRICS),
        metric_options=METRIC_OPTIONS,
        options=codec_options,
        source_sha256=source_sha256,
    resources:
        gpu=1,
    priority: 10
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/analysis/{dataset}/{sequence}/{codec}/context/L{context}_{rate}.log",
    shell:
        "vcbench givic-analysis context-point {input.source} --out {output.record} --context {wildcards.context}"
        " --rate-label {wildcards.rate} {params.knobs} --frames {params.frames} --metrics {params.metrics} {params.metric_options}"
        " {params.options} --quiet > {log} 2>&1"


rule givic_context:
    input:
        points=lambda wc: plan(wc.preset).givic_context_points(wc.dataset, wc.sequence, wc.codec),
    output:
        table="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/context_length/context.csv",
        points="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/context_length/context_points.csv",
        figure="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/context_length/context.png",
        record="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/context_length/analysis.json",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.record),
        reference=lambda wc: plan(wc.preset).codec_option(wc.codec, "context"),
    localrule: True
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/context_length.log",
    shell:
        "vcbench givic-analysis context {input.points} --out-dir {params.out_dir} --reference {params.reference}"
        " --codec {wildcards.codec} --dataset {wildcards.dataset} --sequence {wildcards.sequence} > {log} 2>&1"
