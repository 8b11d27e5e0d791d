"""The project's file layout: every path template of data/, results/, reports/ and logs/, in one place.

Each template is a string with named fields ({preset}, {dataset}, {sequence}, {codec}, {rate}, ...):
the rules use it as it stands (its fields are Snakemake wildcards), the Python code fills it in
with `fill`. `partial` fills some fields and leaves the others as wildcards (e.g. the encode rule's
bitstream extension). Paths are relative to the repository root.

    data/<dataset>/<sequence>.y4m (+ .json)                      a prepared sequence and its record
    results/<preset>/<dataset>/<sequence>/<codec>/<rate>.*        one job: bitstream and its records
    reports/<preset>/...                                          the tables, figures and report of a preset
    logs/<preset>/...                                             one log per job
"""

from __future__ import annotations

from pathlib import Path

# data/: a prepared sequence and its record (its sha256: the version every job records)
SEQUENCE = "data/{dataset}/{sequence}.y4m"
SEQUENCE_RECORD = "data/{dataset}/{sequence}.json"

# results/: one job is a sequence coded by a codec (its config key) at a rate point (its label)
SEQUENCE_RESULTS = "results/{preset}/{dataset}/{sequence}"
JOB_STEM = SEQUENCE_RESULTS + "/{codec}/{rate}"
BITSTREAM = JOB_STEM + ".{extension}"  # the codec's elementary-stream extension: hevc, 266, obu, ...
ENCODE_RECORD = JOB_STEM + ".encode.json"
DECODE_RECORD = JOB_STEM + ".decode.json"
# a neural codec's decode, kept losslessly (FFV1) for scoring to read again; an anchor's is decoded anew where read
KEPT_RECONSTRUCTION = JOB_STEM + ".rec.mkv"
FRAMES = JOB_STEM + ".frames.csv"  # per-frame scores
SUMMARY = JOB_STEM + ".summary.json"  # the job's rd.csv row
PREVIEW = JOB_STEM + ".preview.png"  # the reconstruction's middle frame
INCEPTION = JOB_STEM + ".inception.npz"
SOURCE_INCEPTION = SEQUENCE_RESULTS + "/source.inception.npz"
ENCODE_TIMING = "results/{preset}/timings/encode/{dataset}/{sequence}/{codec}/{rate}.tsv"
DECODE_TIMING = "results/{preset}/timings/decode/{dataset}/{sequence}/{codec}/{rate}.tsv"
DECODER_COST = JOB_STEM + ".decoder_cost.json"  # a neural codec's decode counted: MACs, parameters, denoiser calls
# an analysis' earlier stage (`vcbench.codecs.analyses.Stage`; e.g. a codec's context-length points): its declared folder
ANALYSIS_STAGE_DIR = SEQUENCE_RESULTS + "/{codec}/{folder}"
ASSETS_MANIFEST = "results/assets.json"

# reports/: one folder per preset
REPORT_DIR = "reports/{preset}"
RD = REPORT_DIR + "/rd.csv"
BD = REPORT_DIR + "/bd.csv"
FID = REPORT_DIR + "/fid.csv"
PLOTS = REPORT_DIR + "/plots"
PROVENANCE = REPORT_DIR + "/provenance.json"
MLFLOW_RUNS = REPORT_DIR + "/mlflow_runs.json"
MLFLOW = REPORT_DIR + "/mlflow.json"
HTML = REPORT_DIR + "/index.html"
MARKDOWN = REPORT_DIR + "/report.md"
VERIFY = REPORT_DIR + "/verify.json"
BACKBONE_CHECK = REPORT_DIR + "/backbones/{backbone}.json"
# analyses: of one job's bitstream (<rate>/<folder>), or of a codec's whole ladder on a sequence (ladder/<folder>);
# each analysis declares its folder (`vcbench.codecs.analyses.Analysis.folder`)
ANALYSIS_DIR = REPORT_DIR + "/analysis/{dataset}/{sequence}/{codec}/{rate}"
LADDER_ANALYSIS_DIR = REPORT_DIR + "/analysis/{dataset}/{sequence}/{codec}/ladder"
ANALYSIS_RECORD = "analysis.json"  # every analysis folder's record, the report's input

# models/: a trained model's folder; its model_index.json is written last, as its marker
MODEL_MARKER = "model_index.json"
MODEL_DIR = "models/{model}"
MODEL_INDEX = f"{MODEL_DIR}/{MODEL_MARKER}"
BACKBONE_ASSET_MARKER = "asset.json"  # a pretrained backbone's folder, verified (`vcbench assets fetch-backbone`)
BACKBONE_ASSET_RECORD = f"{MODEL_DIR}/{BACKBONE_ASSET_MARKER}"

# studies/: a pairwise subjective study made from a preset's report (what it holds: vcbench.study.folder)
STUDY_DIR = "studies/{preset}"
STUDY_SCALE_RECORD = STUDY_DIR + "/scale/" + ANALYSIS_RECORD  # `vcbench study scale`: the report shows it when present

# logs/: one per job. {stage}: encode, decode, score or fid;
# {analysis}: an analysis job's place under its codec, e.g. "{rate}/tdir" or "ladder/qpp"; {step}: the rule's
LOGS = "logs/{preset}"
JOB_LOG = LOGS + "/{stage}/{dataset}/{sequence}/{codec}/{rate}.log"
SOURCE_FEATURES_LOG = LOGS + "/fid/{dataset}/{sequence}/source.log"
ANALYSIS_LOG = LOGS + "/analysis/{dataset}/{sequence}/{codec}/{analysis}.log"
BACKBONE_LOG = LOGS + "/backbones/{backbone}.log"
REPORT_LOG = LOGS + "/report/{step}.log"
PRESET_LOG = LOGS + "/{step}.log"
DATA_LOG = "logs/data/{dataset}/{sequence}.log"
MODEL_LOG = "logs/models/{model}/{step}.log"
ASSETS_LOG = "logs/assets/fetch.log"


def fill(template: str, **values: object) -> str:
    """The path of ``template`` with every field given (a missing one is a KeyError naming it)."""
    return template.format(**values)


class _KeepMissing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def partial(template: str, **values: object) -> str:
    """``template`` with the fields given filled in and the others left as wildcards."""
    return template.format_map(_KeepMissing(values))


def record_of(path: Path | str, kind: str) -> Path:
    """A bitstream's sibling: ``<stem>.<kind>`` beside it (``encode.json``, ``frames.csv``, ``preview.png``, ...).
    The stem is the name up to its last suffix, so a rate label never loses a part."""
    path = Path(path)
    return path.with_name(f"{path.name.rsplit('.', 1)[0]}.{kind}")


def sequence_record(sequence: Path | str) -> Path:
    """The record (``<sequence>.json``) a prepared sequence's file has beside it."""
    return Path(sequence).with_suffix(".json")
