# Decode a bitstream back to Y4M in the source's format (temporary: kept only until scored).


rule decode:
    input:
        bitstream=bitstream_of,
        # the decode must give the frames the encode record says were coded (a truncated stream fails)
        encode_record=layout.ENCODE_RECORD,
        like=source_of,
        requires=codec_requires,
    output:
        reconstruction=temp(layout.RECONSTRUCTION),
        record=layout.DECODE_RECORD,
    params:
        codec=codec_name,
        options=codec_options,
    resources:
        gpu=lambda wc: int(plan(wc.preset).uses_gpu(wc.codec)),
    threads: lambda wc: coding_threads(wc.codec)
    conda:
        codec_env
    log:
        layout.partial(layout.JOB_LOG, stage="decode"),
    benchmark:
        layout.DECODE_TIMING
    shell:
        "VCBENCH_GPUS={resources.gpu} vcbench decode {input.bitstream} {output.reconstruction} --codec {params.codec} {params.options}"
        " --like {input.like} --encode-record {input.encode_record} --record {output.record} > {log} 2>&1"
