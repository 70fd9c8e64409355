"""The one evaluator every arm is scored with (scorer.py), the scored sample of the
validation text, the step-0 cache, the number format, and generation through each
model's own ``generate``."""
