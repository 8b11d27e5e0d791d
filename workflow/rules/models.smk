# Models: the embedded DiV-INR backbone, trained once on material disjoint from the test
# sequences and cached (models/embedded/model_index.json is written last, as its marker).
# Training knobs come from config `models.<prior>` (vae_steps, unet_steps, seed).



rule train_prior:
    # The prior's training knobs come from config `models.<prior>`; they are params, so changing
    # them retrains (Snakemake's params rerun trigger).
    wildcard_constraints:
        prior="|".join(config.get("models", {})) or "embedded",
    output:
        "models/{prior}/model_index.json",
    # every neural job waits for the prior: start it before anything else
    priority: 50
    params:
        vae_steps=lambda wc: config["models"][wc.prior]["vae_steps"],
        unet_steps=lambda wc: config["models"][wc.prior]["unet_steps"],
        seed=lambda wc: config["models"][wc.prior].get("seed", 0),
    resources:
        gpu=1,
    threads: 1
    conda:
        TORCH_ENV
    log:
        "logs/models/{prior}/train_prior.log",
    shell:
        "vcbench train-prior --out models/{wildcards.prior} --vae-steps {params.vae_steps} --unet-steps {params.unet_steps}"
        " --seed {params.seed} --threads {threads} 2> {log}"
