"""DiffVC's codec options and rate knob, declared once (no torch: the workflow checks a
configuration against them every time it parses the DAG, and the registry reads them from here).

The one rate knob is the quantisation index ``q`` (QPP: one model covers every rate; rate falls as
q rises). The bounds also bound what a bitstream header may ask a decoder to do (see
:mod:`vcbench.codecs.diffvc.bitstream`).
"""

from __future__ import annotations

from vcbench.options import Option, OptionSet

Q_MAX = 63  # q runs over 0..Q_MAX: 0 the finest quantiser (highest rate), Q_MAX the coarsest
TDIR_MODES = ("aligned", "reuse")  # see vcbench.codecs.diffvc.tdir
MAX_STEPS = 1000

OPTIONS = OptionSet(
    Option("model", str, "models/diffvc", "DiffVC model folder (diffusers layout: intra/, inter/, adapter/, model_index.json)"),
    Option("backbone", str, "models/embedded-kl", "diffusers folder of the backbone the model was trained on (checked by content hash)"),
    Option("models_dir", str, None, "decoder: folder whose subfolders are searched for the model and backbone by content hash"),
    Option("device", str, "auto", "auto (CUDA when present, else the CPU), cpu or cuda", choices=("auto", "cpu", "cuda")),
    Option("threads", int, 0, "torch CPU threads (0: torch's default; 1 avoids oversubscription when jobs run side by side)",
           minimum=0),
    Option("intra_period", int, 32, "frames from one I-frame to the next (the others are P-frames)", minimum=1, maximum=65535),
    Option("steps", int, 4, "sampling steps of the diffusion decoder (written in the header)", minimum=1, maximum=MAX_STEPS),
    Option("tdir_r", int, 2, "TDIR: P-frames start from the previous frame's state after this many steps and skip them "
                             "(0: off; below steps; written in the header)", minimum=0, maximum=MAX_STEPS - 1),
    Option("tdir_mode", str, "aligned", "TDIR: reuse the previous frame's state as it is (reuse) or shifted by the change of the "
                                       "decoded latent (aligned)", choices=TDIR_MODES),
    Option("seed", int, 0, "sampling seed (written in the header)", minimum=0, maximum=2**32 - 1),
    Option("decode_tdir_r", int, None, "decoder: use this TDIR r instead of the header's (the TDIR analysis; not the normative "
                                       "decode)", minimum=0, maximum=MAX_STEPS - 1),
)

KNOBS = OptionSet(
    Option("q", int, 32, f"quantisation index 0..{Q_MAX}: sets the quantiser scales and the denoiser's prompt (rate falls as q "
                         "rises)", minimum=0, maximum=Q_MAX),
)
