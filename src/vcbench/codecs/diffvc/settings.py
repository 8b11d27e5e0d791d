"""DiffVC's codec options and rate knob, declared once (no torch: the workflow checks a
configuration against them every time it parses the DAG, and the registry reads them from here).

The one rate knob is the quantisation index ``q`` (QPP: one model covers every rate; rate falls as
q rises). The bounds also bound what a bitstream header may ask a decoder to do (see
:mod:`vcbench.codecs.diffvc.bitstream`).
"""

from __future__ import annotations

from typing import Any

from vcbench.codecs.base import CodecFacts
from vcbench.codecs.neural import DEVICE_OPTIONS
from vcbench.diffusion.compatibility import MEMORY_OPTIONS, BackboneFacts, check_backbone_option, memory_problem
from vcbench.diffusion.strength import first_step
from vcbench.errors import ConfigError
from vcbench.options import Option, OptionSet

Q_MAX = 63  # q runs over 0..Q_MAX: 0 the finest quantiser (highest rate), Q_MAX the coarsest
TDIR_MODES = ("aligned", "reuse")  # see vcbench.codecs.diffvc.tdir
MAX_STEPS = 1000

OPTIONS = OptionSet(
    Option("model", str, "models/diffvc", "DiffVC model folder (diffusers layout: intra/, inter/, adapter/, model_index.json)"),
    Option("backbone", str, "models/embedded", "diffusers folder of the backbone the model was trained on (checked by content hash)"),
    Option("models_dir", str, None, "decoder: folder whose subfolders are searched for the model and backbone by content hash"),
    *DEVICE_OPTIONS,
    Option("intra_period", int, 32, "frames from one I-frame to the next (the others are P-frames)", minimum=1, maximum=65535),
    Option("steps", int, 4, "sampling steps of the diffusion decoder's schedule (written in the header; strength says how many "
                            "run)", minimum=1, maximum=MAX_STEPS),
    Option("strength", float, 1.0, "share of the sampling steps the decoder runs, as diffusers' img2img strength (written in the "
                                   "header): 1 samples every frame from pure noise; below 1 from the frame's decoded latent noised "
                                   "to the level of the last max(1, int(strength x steps)) steps", minimum=0.01, maximum=1),
    Option("tdir_r", int, 2, "TDIR: P-frames start from the previous frame's state after this many steps and skip them "
                             "(0: off; else above the first step run and below steps; written in the header)", minimum=0,
           maximum=MAX_STEPS - 1),
    Option("tdir_mode", str, "aligned", "TDIR: reuse the previous frame's state as it is (reuse) or shifted by the change of the "
                                       "decoded latent (aligned)", choices=TDIR_MODES),
    Option("seed", int, 0, "sampling seed (written in the header)", minimum=0, maximum=2**32 - 1),
    Option("decode_tdir_r", int, None, "decoder: use this TDIR r instead of the header's (the TDIR analysis; not the normative "
                                       "decode)", minimum=0, maximum=MAX_STEPS - 1),
    *MEMORY_OPTIONS,
    check=lambda options, where: _check(options, where),
)


def tdir_problem(tdir_r: int, steps: int, strength: float) -> str | None:
    """Why TDIR cannot take over after ``tdir_r`` steps of this schedule, or None when it can: a
    P-frame takes over a state the previous frame passed through, so r lies after the first step
    run (with strength below 1 the ones before it are skipped; see :mod:`vcbench.codecs.diffvc.tdir`)."""
    start = first_step(steps, strength)
    if tdir_r == 0 or start < tdir_r < steps:
        return None
    runs = f"steps {start}..{steps - 1} of {steps} run (strength {strength:g})" if start else f"{steps} steps"
    return f"tdir_r={tdir_r} must be 0 (off) or above {start} and below {steps}: {runs}"


def backbone_problem(facts: BackboneFacts, options: dict[str, Any]) -> str | None:
    """Why DiffVC cannot run on this backbone, or None: it samples image denoisers frame by frame with
    DDIM (its TDIR takes over a DDIM state), and widens a stock denoiser's input itself when trained."""
    problem = facts.common_problem()
    if problem:
        return problem
    if facts.kind != "image":
        return (f"its denoiser {facts.unet_class} denoises whole clips; DiffVC samples image denoisers frame by frame: "
                "pass an image backbone (SD 1.5/2.1, SD-Turbo, SDXL, the embedded one) or use divinr for this one")
    if facts.sampler != "ddim-trailing":
        return (f"its scheduler is continuous-time ({facts.sampler}); DiffVC's TDIR reuses DDIM states of a discrete-timestep "
                "backbone: pass one (SD 1.5/2.1, SD-Turbo, SDXL, the embedded one)")
    if facts.in_channels not in (facts.latent_channels, 2 * facts.latent_channels):
        return (f"its denoiser takes {facts.in_channels} input channels; DiffVC needs the noisy latent ({facts.latent_channels}) "
                f"or it plus a concatenated condition ({2 * facts.latent_channels})")
    return memory_problem(facts, options)


def _check(options: dict, where: str) -> None:
    """The options together: TDIR's r fits the schedule, and the backbone fits DiffVC."""
    problem = tdir_problem(options["tdir_r"], options["steps"], options["strength"])
    if problem:
        raise ConfigError(f"{where}: {problem}")
    check_backbone_option(backbone_problem, options, where)


KNOBS = OptionSet(
    Option("q", int, 32, f"quantisation index 0..{Q_MAX}: sets the quantiser scales and the denoiser's prompt (rate falls as q "
                         "rises)", minimum=0, maximum=Q_MAX),
)

FACTS = CodecFacts("diffvc", "vcbench.codecs.diffvc.codec:DiffVcCodec", "diffvc", True, OPTIONS, KNOBS,
                   commands=("vcbench.codecs.diffvc.commands:train_diffvc",))
