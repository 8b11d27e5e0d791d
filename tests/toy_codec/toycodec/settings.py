"""The toy codec's facts, declared once (torch-free, as the registry and the workflow read them)."""

from vcbench.codecs.base import CodecFacts
from vcbench.codecs.neural import DEVICE_OPTIONS
from vcbench.options import Option, OptionSet

OPTIONS = OptionSet(*DEVICE_OPTIONS, Option("level", int, 6, "zlib level of the coded planes", minimum=0, maximum=9))
KNOBS = OptionSet(Option("shift", int, 2, "low bits dropped from every sample (the rate knob)", minimum=0, maximum=7))
FACTS = CodecFacts("toycodec", "toycodec.codec:ToyCodec", "toy", True, OPTIONS, KNOBS)
