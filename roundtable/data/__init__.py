"""The user's text: files read and checked with file:line errors (corpus.py), the demo's
text, tokenization, cached token streams, and the blocks and padded examples trained on."""
