# DiffVC: the model, trained once (its weights are committed: a fresh clone never retrains it). Its analyses
# (TDIR, QPP, error propagation) are declared in vcbench/codecs/diffvc/analyses.py and run by analysis.smk.


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
