"""The typed results records moved to ``roundtable.results``; this name stays so that
``from roundtable.records import ...`` keeps working."""

from roundtable.results.records import (  # noqa: F401
    RESULTS,
    CurvePoint,
    MalformedResults,
    Results,
    Run,
    Verdict,
    load_results,
    run_name,
)
