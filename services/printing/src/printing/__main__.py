"""`python -m printing api|worker|station`."""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["station"]:
        # The agent needs none of the service's wiring: keep its start (and restart) quick.
        from printing.station import main

        sys.exit(main(sys.argv[2:]))

    from oms_platform.runtime import service_main
    from printing.bootstrap import build_api, run_printing_worker
    from printing.config import Settings

    service_main("printing", settings_class=Settings, build_api=build_api, run_worker=run_printing_worker)
