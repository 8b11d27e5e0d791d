"""Shared by the study tests: a study folder with known conditions, a panel of simulated observers, and
the study server run as a real process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from scipy.stats import norm

from vcbench.study.folder import CLIPS, CONFIG, REFERENCE

PROBIT_PER_JOD = norm.ppf(0.75)  # 1 JOD: 75 % prefer the better condition


def write_study(root: Path, truth: dict[str, list[float]], training: int = 2, trials: int = 30, repeats: int = 3) -> Path:
    """A study folder whose sequences (``truth``: sequence -> JOD of its conditions, the reference's first
    and 0) have a metric that tracks the truth ('psnr_yuv') and one that does not ('noise')."""
    rng = np.random.default_rng(1)
    (root / CLIPS).mkdir(parents=True)
    conditions = []
    for sequence, jods in truth.items():
        for k, jod in enumerate(jods):
            codec, rate = (REFERENCE, REFERENCE) if k == 0 else (f"codec{k % 2}", f"r{k}")
            cid = f"t/{sequence}/{codec}" if k == 0 else f"t/{sequence}/{codec}/{rate}"
            clip = f"{CLIPS}/{cid.replace('/', '__')}.webm"
            (root / clip).write_bytes(b"")
            conditions.append({"id": cid, "dataset": "t", "sequence": sequence, "codec": codec, "rate": rate,
                               "bpp": None if k == 0 else 0.01 * k, "clip": clip,
                               "metrics": {} if k == 0 else {"psnr_yuv": 30 + 2 * jod, "noise": float(rng.normal())}})
    training_pairs = [[f"t/{s}/{REFERENCE}", f"t/{s}/codec1/r1"] for s in truth]
    config = {"name": root.name, "conditions": conditions, "metric_columns": ["psnr_yuv", "noise"],
              "session": {"training": training, "trials": trials, "repeats": repeats}, "training_pairs": training_pairs}
    (root / CONFIG).write_text(json.dumps(config))
    return root


def truth_of(truth: dict[str, list[float]]) -> dict[str, float]:
    out = {}
    for sequence, jods in truth.items():
        for k, jod in enumerate(jods):
            out[f"t/{sequence}/{REFERENCE}" if k == 0 else f"t/{sequence}/codec{k % 2}/r{k}"] = jod
    return out


def observer_choice(truth: dict[str, float], left: str, right: str, rng: np.random.Generator, reliable: bool = True) -> str:
    """A Thurstone Case V observer (1 JOD = 75 % preference), or one who answers at random."""
    if not reliable:
        return str(rng.choice(["left", "right"]))
    return "left" if rng.random() < norm.cdf((truth[left] - truth[right]) * PROBIT_PER_JOD) else "right"


class StudyServer:
    """`vcbench study serve` as a real process on a free port of 127.0.0.1."""

    def __init__(self, folder: Path, port: int, log: Path):
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(log, "a")
        self.process = subprocess.Popen([sys.executable, "-m", "vcbench.cli", "study", "serve", str(folder), "--port", str(port),
                                         "--seed", "0"], stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/api/status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:  # not listening yet
                pass
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"study server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
