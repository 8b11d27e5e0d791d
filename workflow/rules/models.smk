# Models: the embedded backbone, trained on material disjoint from the test sequences
# (model_index.json is written last, as its marker). models/embedded is committed (see
# models/README.md): a fresh clone plans no training; `--forcerun train_prior` retrains it. The
# smoke preset's quick prior is trained. Knobs come from config `models.<model>` (vae_steps, unet_steps, seed).
# Pretrained backbones (the paper preset's SD 2.1-base) are assets: fetched from the hub at a pinned commit, or
# placed by hand, and verified file by file (rule fetch_backbone); DiffVC is trained around each (train_diffvc_backbone).
from vcbench.commands.backbone import CHECK_FRAMES


rule fetch_backbone:
    # The hub's files at the registry's pinned revision, or files placed by hand, verified (size and sha256 of each
    # file loading reads) before the record is written. Offline and absent: fails naming the asset, where its files
    # go and the command that gets them.
    wildcard_constraints:
        model="|".join(BACKBONE_ASSETS) or "(?!)",
    output:
        layout.BACKBONE_ASSET_RECORD,
    priority: 50
    params:
        folder=lambda wc: layout.fill(layout.MODEL_DIR, model=wc.model),
    # huggingface_hub (a dependency of diffusers) downloads it
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.MODEL_LOG, step="fetch_backbone"),
    shell:
        "vcbench assets fetch-backbone {wildcards.model} --out {params.folder} > {log} 2>&1"


rule train_diffvc_backbone:
    # DiffVC trained once around a pretrained backbone asset (models/diffvc-<asset>), with the paper's DISTS loss
    # (its weights: `vcbench assets fetch`); the committed models/diffvc (embedded backbone) is diffvc.smk's.
    wildcard_constraints:
        model="diffvc-(?:" + ("|".join(BACKBONE_ASSETS) or "(?!)") + ")",
    input:
        backbone=lambda wc: ancient(layout.fill(layout.BACKBONE_ASSET_RECORD, model=wc.model.removeprefix("diffvc-"))),
    output:
        layout.MODEL_INDEX,
    priority: 50
    params:
        backbone=lambda wc: layout.fill(layout.MODEL_DIR, model=wc.model.removeprefix("diffvc-")),
        out=lambda wc: layout.fill(layout.MODEL_DIR, model=wc.model),
    resources:
        gpu=1,
    threads: TRAINING_THREADS
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.MODEL_LOG, step="train_diffvc"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench train-diffvc --backbone {params.backbone} --out {params.out} --threads {threads} 2> {log}"



rule train_prior:
    # The prior's training knobs come from config `models.<model>`; they are params, so changing
    # them retrains (Snakemake's params rerun trigger).
    wildcard_constraints:
        model="|".join(config["models"]) or "(?!)",  # no model configured: a pattern that matches none
    output:
        layout.MODEL_INDEX,
    # every neural job waits for the prior: start it before anything else
    priority: 50
    params:
        vae_steps=lambda wc: config["models"][wc.model]["vae_steps"],
        unet_steps=lambda wc: config["models"][wc.model]["unet_steps"],
        seed=lambda wc: config["models"][wc.model]["seed"],
        folder=lambda wc: layout.fill(layout.MODEL_DIR, model=wc.model),
    resources:
        gpu=1,
    # on a GPU node the GPU trains it (--device auto); its threads feed it (common.smk)
    threads: TRAINING_THREADS
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.MODEL_LOG, step="train_prior"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench train-prior --out {params.folder} --vae-steps {params.vae_steps} --unet-steps {params.unet_steps}"
        " --seed {params.seed} --threads {threads} 2> {log}"


rule backbone_check:
    # A backbone's ceiling (its VAE's round trip) on the preset's sequences, for the report.
    input:
        model=lambda wc: backbone_marker(plan(wc.preset).backbones[wc.backbone]),  # a retrained or fetched backbone: check again
        sources=lambda wc: [ancient(path) for path in plan(wc.preset).sources()],
    output:
        layout.BACKBONE_CHECK,
    params:
        folder=lambda wc: plan(wc.preset).backbones[wc.backbone],
        # a new version of a sequence checks again (the sources are ancient(), see common.smk)
        sources_sha256=lambda wc: [source_version(dataset, sequence) for dataset, sequence in plan(wc.preset).all_sequences()],
        frames=lambda wc: min(CHECK_FRAMES, plan(wc.preset).frames),
    resources:
        gpu=1,
    conda:
        TORCH_ENV
    log:
        layout.BACKBONE_LOG,
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench backbone check --backbone {params.folder} --frames {params.frames} --out {output} --quiet {input.sources}"
        " > {log} 2>&1"
