"""From scores to a verdict: the paired bootstrap (stats.py), the run-to-run spread floor,
the verdict and its caveats."""
