"""The task-format tokens every arm's tokenizer carries: a task's text starts after
TASK_START and ends with TASK_END, the same for every arm."""

TASK_START = "[TASK_START]"
TASK_END = "[TASK_END]"
