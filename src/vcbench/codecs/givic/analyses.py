"""GIViC's analyses (declared for the workflow: `vcbench.codecs.analyses`; torch-free), on the first sequence of
every dataset: quality against the number of sampling steps (the lowest rate point decoded again), and BD-rate
and decoding complexity against the context length (the ladder's first points coded at each length: the
codec's own length measures the ladder's bitstreams, every other is coded anew, then one gathering job)."""

from typing import Any

from vcbench.analysis_record import RECORD_NAME
from vcbench.codecs.analyses import FIRST, SEQUENCE, Analysis, Stage
from vcbench.options import ListOption, Option, OptionSet

_RUN = "vcbench.codecs.givic.analysis:"


def other_contexts(settings: dict[str, Any], options: dict[str, Any]) -> list[int]:
    """The context lengths coded anew: all but the codec's own (its ladder's bitstreams measure that one)."""
    return [context for context in settings["contexts"] if context != options["context"]]


ANALYSES = (
    Analysis("sampling_steps", "quality and decoding time against the number of sampling steps per token (one bitstream, decoded again)",
             stages=(Stage("sampling_steps", _RUN + "sampling_steps_job", folder="sampling_steps", reads=("BITSTREAM",), scores=True,
                           writes=("steps.csv", "steps.png", RECORD_NAME)),),
             settings=OptionSet(ListOption("steps", int, (1, 2, 4, 8), "numbers of sampling steps per token ([]: no analysis)",
                                           minimum=1)),
             sequences=FIRST, switch="steps"),
    Analysis("context_length", "BD-rate and decoding complexity (MACs per pixel, decoded fps) against the context length",
             stages=(Stage("reference", _RUN + "context_reference_job", folder="context", reads=("BITSTREAM",), scores=True,
                           writes=("reference_{rate}.json",)),
                     Stage("point", _RUN + "context_point_job", folder="context", over=other_contexts, scores=True,
                           writes=("L{item}_{rate}.json", "L{item}_{rate}.givic")),
                     Stage("context_length", _RUN + "context_length_job", folder="context_length", per=SEQUENCE,
                           writes=("context.csv", "context_points.csv", "context.png", RECORD_NAME), gpu=False, local=True)),
             settings=OptionSet(
                 ListOption("contexts", int, (1, 8), "context lengths L to code the sequence with (0: the whole level; [] no analysis)",
                            minimum=0),
                 Option("rates", int, 2, "the ladder's first N rate points are coded at each length", minimum=2)),
             rates="rates", sequences=FIRST, switch="contexts"),
)
