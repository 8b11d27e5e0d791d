"""The toy codec's one analysis (torch-free): its lowest rate point decoded again, on every sequence."""

from vcbench.analysis_record import RECORD_NAME
from vcbench.codecs.analyses import Analysis, Stage
from vcbench.options import Option, OptionSet

ANALYSES = (
    Analysis("toy_sizes", "the bitstream's size at each zlib level",
             stages=(Stage("toy_sizes", "toycodec.analysis:sizes_job", folder="toy_sizes", reads=("BITSTREAM",), gpu=False,
                           writes=("sizes.csv", RECORD_NAME)),),
             settings=OptionSet(Option("max_level", int, 9, "the highest zlib level tried", minimum=0, maximum=9))),
)
