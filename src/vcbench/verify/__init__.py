"""`vcbench verify`: every number of a report re-derived from its bitstreams, or a named mismatch.

For each rd.csv row: the bitstream's sha256 against rd.csv and both records, its size and bpp,
the source's sha256 against rd.csv, the encode record and the data record, then a fresh decode
(the encode record's codec and options) and a fresh score (rd.csv's metrics) compared value by
value with rd.csv and frames.csv. Then bd.csv recomputed from rd.csv. Tolerances: see
:mod:`vcbench.verify.compare`.
"""

from vcbench.verify.compare import Check, Tolerance, agree
from vcbench.verify.run import Verification, format_table, select_rows, verify_report

__all__ = ["Check", "Tolerance", "Verification", "agree", "format_table", "select_rows", "verify_report"]
