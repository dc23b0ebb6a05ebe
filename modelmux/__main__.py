from modelmux.cli import main

raise SystemExit(main())
