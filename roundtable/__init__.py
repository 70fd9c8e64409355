"""roundtable: fine-tune a pretrained language model, or train one from scratch?

Runs both paths on your data under the same budget, scores them with one evaluator
on the same held-out text, and reports the evidence with a verdict.

From Python (nothing heavy is imported until it is called)::

    import roundtable
    results = roundtable.compare(task="lm", data="train.txt", arms=["finetune", "scratch-lstm"],
                                 budget="120s", out="runs/x")
    print(results.verdict.sentence)
    print(roundtable.table(results))                 # the table ``roundtable compare`` prints
    results = roundtable.load_results("runs/x")      # a folder's results, finished or not
"""

from roundtable.api import compare, table
from roundtable.core.tokens import TASK_END, TASK_START
from roundtable.core.version import __version__
from roundtable.results import load_results  # light: json and dataclasses only

__all__ = ["compare", "load_results", "table", "__version__", "TASK_START", "TASK_END"]
