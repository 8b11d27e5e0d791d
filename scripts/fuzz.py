"""The long fuzz run, by hand: mutated inputs for each of vcbench's own readers (a Y4M source, and the
DiffVC, DiV-INR and GIViC bitstreams read as their decoders read them, CRC32 recomputed; see
tests/fuzz_targets.py), and the figures: inputs tried, refused, decoded, seconds, per reader.

    .venv/bin/python scripts/fuzz.py --inputs 600 --seed 0     # 600 per reader, 2,400 in all

It prints, per reader, the counts and the most frequent kinds of refusal (which checks fired).
Every input must decode or be refused in one line naming the file (VideoFormatError for the Y4M,
BitstreamError for the bitstreams); anything else stops the run, saves the input under --keep and
exits 1. ``pytest -m fuzz`` runs it with its defaults.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import torch  # noqa: E402

from fuzz_targets import BUILDERS, make_targets, mutate  # noqa: E402


def _reason(message: str) -> str:
    """A refusal's kind: its words with the numbers and quoted values blanked, shortened."""
    words = re.sub(r"'[^']*'|\d+(\.\d+)?(e[-+]?\d+)?", "#", message.removeprefix("FILE: "))
    return words[:70]


def run(inputs: int = 600, seed: int = 0, readers: tuple[str, ...] = tuple(BUILDERS), keep: Path | None = None) -> dict:
    """Try ``inputs`` mutated inputs per reader; the figures per reader and in all. An input that is
    neither decoded nor refused in one line raises, after being saved under ``keep``."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="vcbench-fuzz-") as folder:
        scratch = Path(folder)
        started = time.perf_counter()
        targets = make_targets(readers, scratch / "seeds")
        figures = {"seed_files_seconds": round(time.perf_counter() - started, 1), "readers": {}}
        for name, target in targets.items():
            rng = random.Random(f"{seed}:{name}")
            counts = {"tried": 0, "refused": 0, "decoded": 0}
            reasons: collections.Counter = collections.Counter()
            slowest, began = 0.0, time.perf_counter()
            for index in range(inputs):
                data = mutate(target, rng)
                before = time.perf_counter()
                try:
                    outcome, message = target.attempt(data, scratch)
                except BaseException:
                    where = Path(keep or ".") / f"fuzz-failure-{name}-{seed}-{index}.{name}"
                    where.write_bytes(data)
                    print(f"{name} input {index}: not a one-line refusal; the input is in {where}", file=sys.stderr)
                    raise
                slowest = max(slowest, time.perf_counter() - before)
                counts["tried"] += 1
                counts[outcome] += 1
                if message:
                    reasons[_reason(message)] += 1
            figures["readers"][name] = {**counts, "seconds": round(time.perf_counter() - began, 1),
                                        "slowest_input_seconds": round(slowest, 2), "refusals": dict(reasons.most_common(12))}
    figures["total"] = {key: sum(reader[key] for reader in figures["readers"].values()) for key in ("tried", "refused", "decoded")}
    figures["total"]["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=600, help="mutated inputs per reader (default 600)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mutations (default 0)")
    parser.add_argument("--reader", action="append", choices=list(BUILDERS), help="only these readers (repeatable)")
    parser.add_argument("--keep", type=Path, default=Path("."), help="folder for a failing input (default: here)")
    args = parser.parse_args()
    try:
        figures = run(args.inputs, args.seed, tuple(args.reader or BUILDERS), args.keep)
    except BaseException:
        traceback.print_exc()
        return 1
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
