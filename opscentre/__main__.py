from opscentre.cli import main

raise SystemExit(main())
