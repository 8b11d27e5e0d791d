# Decode a bitstream: time it and check its frames (<stem>.decode.json). What is kept of the frames follows
# what a decode costs (vcbench.reconstruction.keeps_reconstruction): a neural codec's (GPU minutes) is kept
# losslessly, FFV1 in <stem>.rec.mkv, so that changing a metric reruns scoring alone; an anchor's bitstream
# decodes in a fraction of a second, so its frames go to scratch and away, and each job that reads them
# (score, fid_features) decodes it again into its own scratch ($TMPDIR).


rule decode:
    # an anchor: timed and checked, nothing kept
    input:
        bitstream=bitstream_of,
        # the decode must give the frames the encode record says were coded (a truncated stream fails)
        encode_record=layout.ENCODE_RECORD,
        like=source_of,
        requires=codec_requires,
    output:
        record=layout.DECODE_RECORD,
    wildcard_constraints:
        codec=codecs_keeping(False),
    params:
        codec=codec_name,
        options=codec_options,
        reconstruction="",  # none kept
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
        "VCBENCH_GPUS={resources.gpu} vcbench decode {input.bitstream} {params.reconstruction} --codec {params.codec} {params.options}"
        " --like {input.like} --encode-record {input.encode_record} --record {output.record} > {log} 2>&1"


use rule decode as decode_kept with:
    # a neural codec: its reconstruction kept losslessly for scoring (and FID) to read again
    output:
        reconstruction=layout.KEPT_RECONSTRUCTION,
        record=layout.DECODE_RECORD,
    wildcard_constraints:
        codec=codecs_keeping(True),
    params:
        codec=codec_name,
        options=codec_options,
        reconstruction=lambda wc, output: output.reconstruction,
