"""`python -m sigopt_service --host 127.0.0.1 --port 8080 --db PATH [--token T]...`"""

from sigopt_service.cli import main

raise SystemExit(main())
