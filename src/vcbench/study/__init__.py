"""A pairwise subjective study built from a report: `vcbench study create|serve|export|scale`.

One module per job: ``folder`` (what a study folder holds, ``study.json``), ``conditions`` (which
RD points are shown), ``clips`` (fresh decodes from the bitstreams into browser-playable lossless
clips), ``store`` (the answers, SQLAlchemy), ``sampling`` (which pair to ask next), ``schedule``
(a participant's trials: training, active pairs, hidden repeats), ``server`` (the FastAPI page and
API), ``scaling`` (answers to JOD with intervals, observer screening, agreement with the metrics).
"""
