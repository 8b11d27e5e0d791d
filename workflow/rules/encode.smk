# Encode one sequence with one codec at one rate point: bitstream + encode record.
# One rule per configured codec, because each writes its own elementary-stream extension
# (.hevc, .266, .obu, ...); the {codec} wildcard is pinned to that codec in each rule.
# `source_sha256` (the sequence's recorded sha256) reruns the encodes of a new version of a
# sequence, `requires_sha256` those of new content of a required file (a backbone); both files are
# ancient() inputs (see common.smk). Options that change no output are not params (`neutral_options`).

for _codec_key in config["codecs"]:

    rule:
        name:
            f"encode_{_codec_key}"
        wildcard_constraints:
            codec=_codec_key,
        input:
            sequence=source_of,
            requires=codec_requires,
        output:
            bitstream=layout.partial(layout.BITSTREAM, extension=PLAN.extension(_codec_key)),
            record=layout.ENCODE_RECORD,
        params:
            codec=codec_name,
            frames=frames_of,
            knobs=rate_knobs,
            options=codec_options,
            neutral_options=codec_neutral_options,
            source_sha256=source_sha256,
            requires_sha256=requires_sha256,
        resources:
            gpu=int(PLAN.uses_gpu(_codec_key)),
        threads: coding_threads(_codec_key)
        # neural encodes are the longest jobs: start them as soon as their inputs exist
        priority: 10 if PLAN.uses_gpu(_codec_key) else 0
        conda:
            TORCH_ENV if PLAN.uses_gpu(_codec_key) else FFMPEG_ENV
        log:
            layout.partial(layout.JOB_LOG, stage="encode"),
        benchmark:
            layout.ENCODE_TIMING
        shell:
            "VCBENCH_GPUS={resources.gpu} vcbench encode {input.sequence} {output.bitstream} --codec {params.codec} --rate-label {wildcards.rate}"
            " {params.knobs} {params.options} {params.neutral_options} --frames {params.frames} --record {output.record} > {log} 2>&1"
