"""roundtable: fine-tune a pretrained language model, or train one from scratch?

Runs both paths on your data under the same budget, scores them with one evaluator
on the same held-out text, and reports the evidence with a verdict.

From Python (nothing heavy is imported until it is called)::

    import roundtable
    results = roundtable.compare(task="lm", data="train.txt", arms=["finetune", "scratch-lstm"],
                                 budget="120s", out="runs/x")
    print(results.verdict.sentence)
    results = roundtable.load_results("runs/x")      # a folder's results, finished or not

``roundtable.compare`` is always that function, also after the module of the same name
(``roundtable/compare.py``, the ``Comparison`` class) has been imported; reach that
module with ``from roundtable.compare import Comparison``.
"""

import sys
import types

from roundtable.results import load_results  # light: json and dataclasses only

__all__ = ["compare", "load_results", "__version__", "TASK_START", "TASK_END"]
__version__ = "0.2.0"

TASK_START = "[TASK_START]"
TASK_END = "[TASK_END]"


class _Package(types.ModuleType):
    @property
    def compare(self):
        from roundtable import api

        return api.compare

    @compare.setter
    def compare(self, module):
        """Importing roundtable.compare binds the submodule here: the function stays."""


sys.modules[__name__].__class__ = _Package
