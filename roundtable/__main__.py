"""``python -m roundtable``: what torchrun and accelerate launch."""

from roundtable.cli import main

raise SystemExit(main())
