"""How many sampling steps a strength below 1 runs (SDEdit, diffusers' img2img convention). No
torch: option and header checks use it while the workflow parses the DAG."""

from __future__ import annotations


def first_step(steps: int, strength: float) -> int:
    """The step sampling starts at for a share ``strength`` of ``steps``, as diffusers' img2img
    pipelines count it (the last int(strength x steps) steps run), but always at least one."""
    # + 1e-6: a header's float32 strength such as 0.7 is a hair below it, and 0.7 x 10 must run 7 steps
    return steps - max(1, min(steps, int(steps * strength + 1e-6)))
