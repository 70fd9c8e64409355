"""The settings of a comparison (settings.py): typed dataclasses, their flags and help,
their conversion from text, files and keyword arguments. Knows no arm and no task: the
arm table fills each arm's recipe, and the task table checks ``--task`` (comparison/)."""
