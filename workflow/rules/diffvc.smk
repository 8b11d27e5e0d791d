# DiffVC: the model, trained once (its weights are committed: a fresh clone never retrains it), and
# its three analyses for the report, per sequence of each DiffVC codec of the preset
# (Plan.diffvc_analyses): TDIR's speed against quality at the lowest rate point, QPP (rate and
# quality against q, one model) and quality against the frame's position in the intra period.


# The analysis records of a preset (the report rule's inputs). A lambda: `snakemake --lint` refuses
# functions beside rules in one file.
diffvc_analyses = lambda preset: plan(preset).diffvc_analyses


rule train_diffvc:
    input:
        # ancient(): a fresh clone gives the committed backbone a checkout-order mtime, which must not
        # retrain the committed model (the model records the backbone's content hash; the codec checks it)
        backbone=ancient("models/embedded/model_index.json"),
    output:
        "models/diffvc/model_index.json",
    params:
        backbone=lambda wc, input: os.path.dirname(input.backbone),
        out=lambda wc, output: os.path.dirname(output[0]),
    resources:
        gpu=1,
    # on a GPU node the GPU trains it (--device auto); without one, every core
    threads: workflow.cores
    conda:
        TORCH_ENV
    log:
        "logs/models/diffvc/train_diffvc.log",
    shell:
        "vcbench train-diffvc --backbone {params.backbone} --out {params.out} --threads {threads} 2> {log}"


rule diffvc_tdir:
    input:
        bitstream=bitstream_of,
        source=source_of,
        requires=codec_requires,
    output:
        table="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/{rate}/tdir/tdir.csv",
        figure="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/{rate}/tdir/tdir.png",
        record="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/{rate}/tdir/analysis.json",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.record),
        metrics=",".join(FRAME_METRICS),
        metric_options=METRIC_OPTIONS,
        options=codec_options,
    resources:
        gpu=1,
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/analysis/{dataset}/{sequence}/{codec}/{rate}/tdir.log",
    shell:
        "vcbench diffvc-tdir {input.bitstream} {input.source} --out-dir {params.out_dir} --metrics {params.metrics}"
        " {params.metric_options} {params.options} --codec {wildcards.codec} --dataset {wildcards.dataset}"
        " --sequence {wildcards.sequence} --quiet > {log} 2>&1"


rule diffvc_qpp:
    input:
        source=source_of,
        requires=codec_requires,
        records=lambda wc: plan(wc.preset).ladder_paths(wc.dataset, wc.sequence, wc.codec, ".encode.json"),
        summaries=lambda wc: plan(wc.preset).ladder_paths(wc.dataset, wc.sequence, wc.codec, ".summary.json"),
    output:
        table="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/qpp/qpp.csv",
        figure="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/qpp/qpp.png",
        record="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/qpp/analysis.json",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.record),
        points=lambda wc, input: " ".join(f"--point {e} {s}" for e, s in zip(input.records, input.summaries)),
        options=codec_options,
    resources:
        gpu=1,
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/qpp.log",
    shell:
        "vcbench diffvc-qpp {input.source} --out-dir {params.out_dir} {params.points} {params.options}"
        " --codec {wildcards.codec} --dataset {wildcards.dataset} --sequence {wildcards.sequence} > {log} 2>&1"


rule diffvc_propagation:
    input:
        frames=lambda wc: plan(wc.preset).ladder_paths(wc.dataset, wc.sequence, wc.codec, ".frames.csv"),
    output:
        table="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/error-propagation/propagation.csv",
        figure="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/error-propagation/propagation.png",
        record="reports/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/error-propagation/analysis.json",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.record),
        points=lambda wc, input: " ".join(f"--point {p['label']} {f}" for p, f in zip(plan(wc.preset).ladder(wc.codec), input.frames)),
        intra_period=lambda wc: plan(wc.preset).codec_option(wc.codec, "intra_period"),
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/analysis/{dataset}/{sequence}/{codec}/ladder/error-propagation.log",
    shell:
        "vcbench diffvc-propagation --out-dir {params.out_dir} {params.points} --intra-period {params.intra_period}"
        " --codec {wildcards.codec} --dataset {wildcards.dataset} --sequence {wildcards.sequence} > {log} 2>&1"
