"""`python -m service --host 127.0.0.1 --port 8080 --db PATH [--token T]...`"""

from service.cli import main

raise SystemExit(main())
