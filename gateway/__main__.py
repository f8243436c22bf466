"""`python -m gateway ...` is `kefu-gateway ...`."""

from gateway.cli import main

raise SystemExit(main())
