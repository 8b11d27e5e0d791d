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
        # retrain the committed model (the model records the backbone's content hash; the codec checks it).
        backbone=ancient(layout.fill(layout.MODEL_INDEX, model="embedded")),
    output:
        layout.fill(layout.MODEL_INDEX, model="diffvc"),
    params:
        backbone=lambda wc, input: os.path.dirname(input.backbone),
        out=lambda wc, output: os.path.dirname(output[0]),
    resources:
        gpu=1,
    # on a GPU node the GPU trains it (--device auto); its threads feed it (common.smk)
    threads: TRAINING_THREADS
    conda:
        TORCH_ENV
    log:
        layout.fill(layout.MODEL_LOG, model="diffvc", step="train_diffvc"),
    # --perceptual-loss ssim: the committed model's perceptual term (its record says so; DISTS needs weights
    # that a fresh clone does not have)
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench train-diffvc --backbone {params.backbone} --out {params.out} --perceptual-loss ssim --threads {threads} 2> {log}"


rule diffvc_tdir:
    input:
        bitstream=bitstream_of,
        source=source_of,
        requires=codec_requires,
    output:
        table=f"{layout.TDIR_ANALYSIS}/tdir.csv",
        figure=f"{layout.TDIR_ANALYSIS}/tdir.png",
        record=f"{layout.TDIR_ANALYSIS}/{layout.ANALYSIS_RECORD}",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.record),
        metrics=",".join(ANALYSIS_METRICS),
        metric_options=ANALYSIS_METRIC_OPTIONS,
        options=codec_options,
    resources:
        gpu=1,
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.ANALYSIS_LOG, analysis="{rate}/tdir"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench diffvc-tdir {input.bitstream} {input.source} --out-dir {params.out_dir} --metrics {params.metrics}"
        " {params.metric_options} {params.options} --codec {wildcards.codec} --dataset {wildcards.dataset}"
        " --sequence {wildcards.sequence} --quiet > {log} 2>&1"


rule diffvc_qpp:
    input:
        source=source_of,
        requires=codec_requires,
        records=lambda wc: plan(wc.preset).ladder_paths(wc.dataset, wc.sequence, wc.codec, layout.ENCODE_RECORD),
        summaries=lambda wc: plan(wc.preset).ladder_paths(wc.dataset, wc.sequence, wc.codec, layout.SUMMARY),
    output:
        table=f"{layout.QPP_ANALYSIS}/qpp.csv",
        figure=f"{layout.QPP_ANALYSIS}/qpp.png",
        record=f"{layout.QPP_ANALYSIS}/{layout.ANALYSIS_RECORD}",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.record),
        points=lambda wc, input: " ".join(f"--point {e} {s}" for e, s in zip(input.records, input.summaries)),
        options=codec_options,
    resources:
        gpu=1,
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.ANALYSIS_LOG, analysis="ladder/qpp"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench diffvc-qpp {input.source} --out-dir {params.out_dir} {params.points} {params.options}"
        " --codec {wildcards.codec} --dataset {wildcards.dataset} --sequence {wildcards.sequence} > {log} 2>&1"


rule diffvc_propagation:
    input:
        frames=lambda wc: plan(wc.preset).ladder_paths(wc.dataset, wc.sequence, wc.codec, layout.FRAMES),
    output:
        table=f"{layout.PROPAGATION_ANALYSIS}/propagation.csv",
        figure=f"{layout.PROPAGATION_ANALYSIS}/propagation.png",
        record=f"{layout.PROPAGATION_ANALYSIS}/{layout.ANALYSIS_RECORD}",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.record),
        points=lambda wc, input: " ".join(f"--point {p['label']} {f}" for p, f in zip(plan(wc.preset).ladder(wc.codec), input.frames)),
        intra_period=lambda wc: plan(wc.preset).codec_option(wc.codec, "intra_period"),
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.ANALYSIS_LOG, analysis="ladder/error-propagation"),
    shell:
        "vcbench diffvc-propagation --out-dir {params.out_dir} {params.points} --intra-period {params.intra_period}"
        " --codec {wildcards.codec} --dataset {wildcards.dataset} --sequence {wildcards.sequence} > {log} 2>&1"
