# Verification: every number of reports/<preset> re-derived from its bitstreams (not part of `all`):
# `snakemake --cores all verify` or `snakemake --cores all reports/<preset>/verify.json`.
# Needs common.smk (METRIC_OPTIONS: the score jobs' -m options; fid_table_input).
# The bitstreams, records and sources are not inputs: verify reports a missing one, where an
# input would make Snakemake encode it anew. On a mismatch the job fails; its log keeps the table.


rule verify:
    input:
        layout.fill(layout.VERIFY, preset=PRESET),
    localrule: True


rule verify_report:
    input:
        rd=layout.RD,
        bd=layout.BD,
        fid=fid_table_input,
    output:
        layout.VERIFY,
    params:
        report_dir=lambda wc: layout.fill(layout.REPORT_DIR, preset=wc.preset),
        metric_options=METRIC_OPTIONS,
        # rd.csv's config_hash must be the hash of the configuration this run checks it under
        config_hash=CONFIG_HASH,
    resources:
        # decoding a neural codec on the device its decode record names gives identical numbers
        gpu=lambda wc: int(any(plan(wc.preset).uses_gpu(codec) for codec in plan(wc.preset).settings["codecs"])),
    conda:
        TORCH_ENV
    log:
        layout.partial(layout.PRESET_LOG, step="verify"),
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench verify {params.report_dir} --out {output} {params.metric_options} --config-hash {params.config_hash} > {log} 2>&1"
