# Prepare the test sequences of a dataset as Y4M (plus a JSON record with its sha256).


rule prepare_sequence:
    output:
        y4m=layout.SEQUENCE,
        record=layout.SEQUENCE_RECORD,
    # every job of a sequence waits for it: before anything else
    priority: 100
    conda:
        FFMPEG_ENV
    log:
        layout.DATA_LOG,
    shell:
        "vcbench data prepare --dataset {wildcards.dataset} --sequence {wildcards.sequence} --out {output.y4m} > {log} 2>&1"
