"""DiffVC's analyses (declared for the workflow: `vcbench.codecs.analyses`; torch-free): TDIR's speed against
quality at the lowest rate point, QPP (rate and quality against q, one model) and quality against the frame's
position in the intra period, on every sequence."""

from vcbench.analysis_record import RECORD_NAME
from vcbench.codecs.analyses import LADDER, SEQUENCE, Analysis, Stage
from vcbench.codecs.diffvc.settings import Q_MAX
from vcbench.options import ListOption, OptionSet

_RUN = "vcbench.codecs.diffvc.analysis:"

ANALYSES = (
    Analysis("tdir", "decode time against quality for every TDIR r the schedule allows (the lowest rate point, decoded again)",
             stages=(Stage("tdir", _RUN + "tdir_job", folder="tdir", reads=("BITSTREAM",), scores=True,
                           writes=("tdir.csv", "tdir.png", RECORD_NAME)),)),
    Analysis("qpp", "rate (file size at every q of a grid) and the ladder's quality against q, one model",
             stages=(Stage("qpp", _RUN + "qpp_job", folder="qpp", per=SEQUENCE, reads=("ENCODE_RECORD", "SUMMARY"),
                           writes=("qpp.csv", "qpp.png", RECORD_NAME)),),
             settings=OptionSet(ListOption("grid", int, (0, 7, 14, 21, 28, 35, 42, 49, 56, 63),
                                           "q values whose file sizes are measured", minimum=0, maximum=Q_MAX)),
             rates=LADDER),
    Analysis("propagation", "quality against the frame's position within the intra period, per rate point (error propagation)",
             stages=(Stage("propagation", _RUN + "propagation_job", folder="error-propagation", per=SEQUENCE, reads=("FRAMES",),
                           writes=("propagation.csv", "propagation.png", RECORD_NAME), gpu=False),),
             rates=LADDER),
)
