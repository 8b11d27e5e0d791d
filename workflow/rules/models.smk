# Models: the embedded DiV-INR backbone, trained once on material disjoint from the test
# sequences and cached (models/embedded/model_index.json is written last, as its marker).
# Training knobs come from config `models.embedded` (vae_steps, unet_steps, seed) when present.

_EMBEDDED = config.get("models", {}).get("embedded", {})


rule train_prior:
    output:
        "models/embedded/model_index.json",
    params:
        vae_steps=_EMBEDDED.get("vae_steps", 700),
        unet_steps=_EMBEDDED.get("unet_steps", 600),
        seed=_EMBEDDED.get("seed", 0),
    threads: 1
    conda:
        TORCH_ENV
    log:
        "logs/models/train_prior.log",
    shell:
        "vcbench train-prior --out models/embedded --vae-steps {params.vae_steps} --unet-steps {params.unet_steps}"
        " --seed {params.seed} --threads {threads} 2> {log}"
