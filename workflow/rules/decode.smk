# Decode a bitstream back to Y4M in the source's format (temporary: kept only until scored).


rule decode:
    input:
        bitstream=lambda wc: f"{job_stem(wc)}.{plan(wc.preset).extension(wc.codec)}",
        like=source_of,
        requires=codec_requires,
    output:
        reconstruction=temp("results/{preset}/{dataset}/{sequence}/{codec}/{rate}.rec.y4m"),
        record="results/{preset}/{dataset}/{sequence}/{codec}/{rate}.decode.json",
    params:
        codec=lambda wc: plan(wc.preset).codec_entry(wc.codec)["codec"],
        options=lambda wc: kv_args("-o", plan(wc.preset).codec_entry(wc.codec).get("options", {})),
    resources:
        gpu=lambda wc: int(plan(wc.preset).uses_gpu(wc.codec)),
    conda:
        codec_env
    log:
        "logs/{preset}/decode/{dataset}/{sequence}/{codec}/{rate}.log",
    benchmark:
        "results/{preset}/timings/decode/{dataset}/{sequence}/{codec}/{rate}.tsv"
    shell:
        "vcbench decode {input.bitstream} {output.reconstruction} --codec {params.codec} {params.options}"
        " --like {input.like} --record {output.record} > {log} 2>&1"
