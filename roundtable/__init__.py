"""roundtable: fine-tune a pretrained language model, or train one from scratch?

Runs both paths on your data under the same budget, scores them with one evaluator
on the same held-out text, and reports the evidence with a verdict.
"""

__version__ = "0.2.0"

TASK_START = "[TASK_START]"
TASK_END = "[TASK_END]"
