"""The user's text: files read and checked with file:line errors (corpus.py), the demo's
text, tokenization, cached token streams, the blocks and padded examples trained on, and
the training text's bigram entropy (entropy.py)."""
