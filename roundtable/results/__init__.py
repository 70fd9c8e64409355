"""results.json: the contract between a comparison and everything that reads it.

``load_results`` turns a file into typed records once (records.py), so the report, the
summary table, ``roundtable generate`` and Python users read the same types and the same
explicit defaults. ``schema.json`` publishes the contract as JSON Schema (draft
2020-12); ``validate`` checks a mapping against it (jsonschema is only needed there: a
test dependency, imported when called). io.py writes the files, whole or not at all.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from roundtable.core.files import dir_bytes, group_readable, publish_dir, read_json, write_json
from roundtable.results.records import (
    COMPARISON,
    GENERATIONS,
    REPORT_HTML,
    REPORT_MD,
    RESULTS,
    RUN_FILE,
    SCORES,
    STATE_FILE,
    ArmForecast,
    Backtest,
    BandPoint,
    Baselines,
    BpbClause,
    Budget,
    Candidate,
    CurvePlan,
    CurvePoint,
    Forecast,
    Generation,
    Interval,
    MalformedResults,
    Measured,
    Recipe,
    Results,
    Run,
    Sample,
    Search,
    Verdict,
    load_results,
    run_name,
)

SCHEMA = "schema.json"

__all__ = [
    "COMPARISON", "GENERATIONS", "REPORT_HTML", "REPORT_MD", "RESULTS", "RUN_FILE", "SCHEMA", "SCORES",
    "STATE_FILE", "ArmForecast", "Backtest", "BandPoint", "Baselines", "BpbClause", "Budget", "Candidate",
    "CurvePlan", "CurvePoint", "Forecast", "Generation", "Interval", "MalformedResults", "Measured", "Recipe", "Results", "Run",
    "Sample", "Search", "Verdict", "dir_bytes", "group_readable", "load_results", "publish_dir",
    "read_json", "run_name", "schema", "validate", "write_json",
]


@cache
def schema() -> dict:
    """The published JSON Schema of results.json, as shipped in the package."""
    return json.loads(resources.files(__name__).joinpath(SCHEMA).read_text(encoding="utf-8"))


def validate(data: dict) -> None:
    """Raise ``jsonschema.ValidationError`` (the first error, with its path) unless
    ``data`` follows the schema. Needs the jsonschema package (pip install roundtable[test])."""
    import jsonschema

    jsonschema.Draft202012Validator(schema(), format_checker=None).validate(data)
