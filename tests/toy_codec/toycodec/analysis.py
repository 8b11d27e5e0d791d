"""The toy analysis: the lowest rate point's planes compressed again at every zlib level up to `max_level`."""

from __future__ import annotations

import zlib

from vcbench.analysis_record import AnalysisRecord, Table
from vcbench.codecs.analyses import AnalysisJob
from vcbench.io import write_text_atomic


def sizes_job(job: AnalysisJob) -> str:
    payload = zlib.decompress(job.file("bitstream").read_bytes().partition(b"\n")[2])
    rows = [f"{level},{len(zlib.compress(payload, level))}" for level in range(job.settings["max_level"] + 1)]
    job.out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(job.out_dir / "sizes.csv", "\n".join(["level,bytes", *rows]) + "\n")
    AnalysisRecord("toy_sizes", "Toy codec: size against zlib level", job.codec, job.dataset, job.sequence,
                   f"{job.codec} at {job.rate}", "Bytes of the same planes at each zlib level.",
                   tables=[Table("bytes per zlib level", "sizes.csv")]).write(job.out_dir)
    return "\n".join(rows)
