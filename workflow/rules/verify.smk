# Verification: every number of reports/<preset> re-derived from its bitstreams (not part of `all`):
# `snakemake --cores all verify` or `snakemake --cores all reports/<preset>/verify.json`.
# Needs common.smk (METRIC_OPTIONS: the score jobs' -m options; fid_table_input).
# The bitstreams, records and sources are not inputs: verify reports a missing one, where an
# input would make Snakemake encode it anew. On a mismatch the job fails; its log keeps the table.


rule verify:
    input:
        f"reports/{PRESET}/verify.json",
    localrule: True


rule verify_report:
    input:
        rd="reports/{preset}/rd.csv",
        bd="reports/{preset}/bd.csv",
        fid=fid_table_input,
    output:
        "reports/{preset}/verify.json",
    params:
        metric_options=METRIC_OPTIONS,
    resources:
        # decoding a neural codec on the device its decode record names gives identical numbers
        gpu=lambda wc: int(any(plan(wc.preset).uses_gpu(codec) for codec in plan(wc.preset).settings["codecs"])),
    conda:
        TORCH_ENV
    log:
        "logs/{preset}/verify.log",
    shell:
        "vcbench verify reports/{wildcards.preset} --out {output} {params.metric_options} > {log} 2>&1"
