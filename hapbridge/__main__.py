from hapbridge.cli.main import main

raise SystemExit(main())
