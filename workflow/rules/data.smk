# Prepare the test sequences of a dataset as Y4M (plus a JSON record with its sha256).


rule prepare_sequence:
    output:
        y4m="data/{dataset}/{sequence}.y4m",
        record="data/{dataset}/{sequence}.json",
    # every job of a sequence waits for it: before anything else
    priority: 100
    conda:
        FFMPEG_ENV
    log:
        "logs/data/{dataset}/{sequence}.log",
    shell:
        "vcbench data prepare --dataset {wildcards.dataset} --sequence {wildcards.sequence} --out {output.y4m} > {log} 2>&1"
