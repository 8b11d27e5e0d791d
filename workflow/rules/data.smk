# Prepare the test sequences of a dataset as Y4M (plus a JSON record with its sha256).


rule prepare_sequence:
    output:
        y4m=layout.SEQUENCE,
        record=layout.SEQUENCE_RECORD,
    # every job of a sequence waits for it: before anything else
    priority: 100
    params:
        # a param: a preset that codes more frames of the sequence prepares it again (a new sha256, so its jobs rerun)
        frames=prepared_frames,
    conda:
        FFMPEG_ENV
    log:
        layout.DATA_LOG,
    shell:
        "vcbench data prepare --dataset {wildcards.dataset} --sequence {wildcards.sequence} --out {output.y4m} {params.frames} > {log} 2>&1"
