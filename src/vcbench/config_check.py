"""The workflow configuration's check when Snakemake starts (`snakemake -n` included).

First the schema (workflow/schemas/config.schema.yaml: keys, their types and every default, which
the check fills in, so the rest of the code reads complete values), then the whole plan
against what the code declares: every codec entry's options and every ladder entry's rate knobs
(each codec's declared option and knob sets; a ladder entry is replaced by its checked knobs, the value
the plan's jobs carry to the encode rule), the report's anchors, the metrics' options, the
preset's datasets. A configuration that a job would later fail on, or silently ignore, stops
the run before any job starts. Every error is one line: the key path
(``codecs.x265.ladder[2].qp``), the value, and what is allowed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from vcbench.codecs.analyses import declared_analyses
from vcbench.codecs.registry import available_codecs, declared_options
from vcbench.errors import ConfigError, UnknownCodecError
from vcbench.io import load_yaml
from vcbench.metrics.registry import available_metrics, column_spec, metric_spec
from vcbench.options import OptionSet
from vcbench.results import rate_label_problem
from vcbench.workflow import Plan


def check_config(config: dict[str, Any], schema_path: str | Path, config_files: Iterable[str | Path] = ()) -> None:
    """Fill in the schema's defaults (in place), then raise a one-line ConfigError for the first
    problem of ``config``; return if there is none. ``config_files``: the files ``config`` was read
    from (Snakemake's configfiles), read again strictly: a key given twice there, which YAML
    resolves silently to its last value, is an error naming both lines."""
    for path in config_files:
        load_yaml(path)
    check_schema(config, load_yaml(schema_path))
    check_plan(config)


def load_config(config_path: str | Path, schema_path: str | Path) -> dict[str, Any]:
    """A configuration file as the workflow sees it: checked, with every default filled in."""
    config = load_yaml(config_path)
    if not isinstance(config, dict):
        raise ConfigError(f"{config_path}: is not a mapping of settings; see config/config.yaml")
    check_config(config, schema_path)
    return config


def key_path(parts: Iterable[str | int]) -> str:
    """("codecs", "x265", "ladder", 2, "qp") -> "codecs.x265.ladder[2].qp"."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(the top level)"


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer", "number": "a number",
          "boolean": "true or false", "null": "null"}
_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def _filling_defaults(validator_class: type) -> type:
    """``validator_class`` extended to set every absent property that declares a ``default`` to a
    copy of it before validating it (as Snakemake's `validate` does), nested objects included."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if validator.is_type(instance, "object"):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties_with_defaults})


def check_schema(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Fill in the schema's defaults; then its most relevant error (as jsonschema ranks them) as one
    line, not a schema dump."""
    validator = _filling_defaults(jsonschema.validators.validator_for(schema))(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))  # every error: the defaults are all set
    if error is not None:
        raise ConfigError(schema_message(error))


def schema_message(error: jsonschema.ValidationError) -> str:
    path, value, kind, rule = list(error.absolute_path), error.instance, error.validator, error.validator_value
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = list(error.schema.get("properties", {}))
        extra = next(key for key in value if key not in allowed)
        return f"config {key_path([*path, extra])}: unknown key (value {_shown(value[extra])}); allowed here: {', '.join(allowed)}"
    if kind == "required" and isinstance(value, dict):
        missing = next(key for key in rule if key not in value)
        return f"config {key_path([*path, missing])}: missing; {key_path(path)} needs {', '.join(rule)}"
    where = f"config {key_path(path)}: {_shown(value)}"
    if kind == "enum":
        return f"{where} is not allowed; one of {', '.join(map(str, rule))}"
    if kind == "type":
        return f"{where} is not {' or '.join(_TYPES.get(t, t) for t in ([rule] if isinstance(rule, str) else rule))}"
    if kind == "pattern":
        return f"{where} is not a name: letters, digits, _ and - only"
    if kind in _BOUNDS:
        return f"{where} is out of range; it must be {_BOUNDS[kind]} {rule}"
    if kind in ("minItems", "minProperties"):
        return f"{where} is too short; it needs at least {rule} entries"
    if kind == "uniqueItems":
        return f"{where} repeats an entry; each may appear once"
    return f"{where}: {error.message.splitlines()[0][:200]}"


def check_options(declared: OptionSet, given: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Each given value against its declaration, named by its own key path; then unknown and
    missing required names (OptionSet.parse). Returns the complete, checked values."""
    for name, value in given.items():
        if name in declared:
            declared.options[name].check(value, f"{where}.{name}")
    return declared.parse(given, where)


def check_plan(config: dict[str, Any]) -> None:
    """Everything the schema cannot know: names and values against the code's declarations."""
    for key, entry in config["codecs"].items():
        where = f"config codecs.{key}"
        try:
            options, knobs = declared_options(entry["codec"])
        except UnknownCodecError:
            raise ConfigError(f"{where}.codec: {entry['codec']!r} is not a registered codec; "
                              f"one of {', '.join(available_codecs())}") from None
        check_options(options, entry["options"], f"{where}.options")
        # each rate point becomes its checked value here, once: the knobs as the codec reads them (typed, defaults
        # filled in), which the plan's jobs carry and the encode rule passes on
        for index, point in enumerate(entry["ladder"]):
            if (problem := rate_label_problem(point["label"])) is not None:
                raise ConfigError(f"{where}.ladder[{index}].label: {problem}")
            checked = check_options(knobs, {k: v for k, v in point.items() if k != "label"}, f"{where}.ladder[{index}]")
            entry["ladder"][index] = {"label": point["label"], **{k: v for k, v in checked.items() if v is not None}}
        check_analyses(entry["codec"], entry["analyses"], f"{where}.analyses")
    plan = Plan(config)
    if not plan.jobs:  # building the jobs loads the preset's datasets: an unregistered one is named there
        raise ConfigError(f"config presets.{plan.preset}: no jobs (its datasets have no sequences)")
    report = config["report"]
    if report["anchor"] not in plan.settings["codecs"]:
        raise ConfigError(f"config report.anchor: {report['anchor']!r} is not a codec of preset {plan.preset!r} "
                          f"(its codecs: {', '.join(plan.settings['codecs'])}); BD values need the anchor's RD points")
    for index, name in enumerate(report["also_against"]):
        if name not in config["codecs"]:
            raise ConfigError(f"config report.also_against[{index}]: {name!r} is not a configured codec; "
                              f"one of {', '.join(config['codecs'])}")
    check_metrics(config)


def check_analyses(codec: str, given: Mapping[str, Any], where: str) -> None:
    """A codec entry's analysis settings against the analyses its codec declares (`vcbench.codecs.analyses`)."""
    declared = {analysis.name: analysis for analysis in declared_analyses(codec)}
    for name, settings in given.items():
        if name not in declared:
            raise ConfigError(f"{where}.{name}: {codec} declares no analysis {name!r}; its analyses: {', '.join(declared) or 'none'}")
        check_options(declared[name].settings, settings, f"{where}.{name}")


def check_metrics(config: dict[str, Any]) -> None:
    """Metric names against the metric registry (the schema cannot list them: a metric is one module and
    one registry line, or a module on VCBENCH_METRICS), then their options."""
    lists = {"metrics": config["metrics"]}
    lists.update({f"presets.{name}.metrics": preset["metrics"] for name, preset in config["presets"].items() if "metrics" in preset})
    # the analyses' list only narrows what the score jobs score: its names are checked, its options are theirs
    for where, names in [*lists.items(), ("analysis.metrics", config["analysis"]["metrics"])]:
        for index, name in enumerate(names):
            if name not in available_metrics():
                raise ConfigError(f"config {where}[{index}]: {_shown(name)} is not allowed; one of {', '.join(available_metrics())} "
                                  f"(the registered metrics)")
    for index, column in enumerate(config["report"]["bd_metrics"] or []):
        if column_spec(column) is None:
            raise ConfigError(f"config report.bd_metrics[{index}]: {_shown(column)} is not allowed; it is no registered metric's column")
    scored = sorted({name for names in lists.values() for name in names})
    for metric, given in config["metric_options"].items():
        where = f"config metric_options.{metric}"
        if metric not in scored:
            raise ConfigError(f"{where}: {metric} is not among the scored metrics ({', '.join(scored)}); "
                              "its options would be ignored")
        if metric_spec(metric).uses_weights and "cache_dir" in given:
            raise ConfigError(f"{where}.cache_dir: the weights' folder of every learned metric is assets.cache_dir; set it there")
        check_options(metric_spec(metric).options, given, where)
