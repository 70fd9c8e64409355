"""The one training path every arm goes through (trainer.py, the Hugging Face Trainer),
its budget clock, FLOPs accounting and the learning-rate search."""
