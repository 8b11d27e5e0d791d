# A pairwise subjective study made from the preset's report (not part of `all`: it is asked for):
# `snakemake --cores 1 study --config preset=smoke` makes studies/<preset>/; then
# `vcbench study serve studies/<preset>`. A study may hold answers, so it is never overwritten: its
# study.json is protected (Snakemake stops rather than rerun it), and `vcbench study create`
# refuses a folder that is not empty; rename or remove the study to make it again.
from vcbench.study.folder import CONFIG as STUDY_CONFIG


rule study:
    input:
        f"{layout.fill(layout.STUDY_DIR, preset=PRESET)}/{STUDY_CONFIG}",
    localrule: True


rule create_study:
    input:
        rd=layout.RD,
        provenance=layout.PROVENANCE,
    output:
        protected(f"{layout.STUDY_DIR}/{STUDY_CONFIG}"),
    params:
        report_dir=lambda wc: layout.fill(layout.REPORT_DIR, preset=wc.preset),
        study_dir=lambda wc: layout.fill(layout.STUDY_DIR, preset=wc.preset),
        # each codec's configured options, for its decoder (as the decode rule passes them)
        options=lambda wc: " ".join(cli_pairs("-o", {f"{codec}.{key}": value for key, value in
                                                     plan(wc.preset).codec_entry(codec)["options"].items()})
                                    for codec in plan(wc.preset).settings["codecs"]),
    resources:
        gpu=lambda wc: int(any(plan(wc.preset).uses_gpu(codec) for codec in plan(wc.preset).settings["codecs"])),
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.PRESET_LOG, step="study"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench study create {params.report_dir} --out {params.study_dir} {params.options} > {log} 2>&1"
