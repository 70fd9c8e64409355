"""The leaf every stage stands on: errors, file writing, paths, the process group, stopping
and where log lines go. It imports nothing else of roundtable."""
