"""DiV-INR's analyses (declared for the workflow: `vcbench.codecs.analyses`; torch-free)."""

from vcbench.analysis_record import RECORD_NAME
from vcbench.codecs.analyses import Analysis, Stage
from vcbench.options import ListOption, OptionSet

ANALYSES = (
    Analysis(
        "denoising",
        "does layout come before texture? Quality of every denoising step's predicted clean frames, and of decodes "
        "with each number of sampling steps (one bitstream per sequence: the lowest rate point, decoded again), and a strip of "
        "one detailed crop through every step",
        stages=(Stage("denoising", "vcbench.codecs.divinr.analysis:denoising_job", reads=("BITSTREAM",), scores=True,
                      writes=("per_step.csv", "per_step_count.csv", "denoising.png", "denoising_strip.png",
                              RECORD_NAME)),),
        settings=OptionSet(ListOption("steps", int, (1, 2, 4, 8), "numbers of sampling steps to decode with ([]: no analysis)",
                                      minimum=1)),
        switch="steps",
    ),
)
