"""A comparison from its settings to its results: the settings checked against the arm and
task tables, the output folder, the runs, the results assembled, shards and status.

Light on purpose: the command line checks settings through ``comparison.settings``
before torch is imported."""
