"""`python -m printing api|worker|station`."""

import sys

from oms_platform.runtime import service_main
from printing.bootstrap import build_api, run_printing_worker
from printing.config import Settings

if __name__ == "__main__":
    if sys.argv[1:2] == ["station"]:
        from printing.station import main

        sys.exit(main(sys.argv[2:]))
    service_main("printing", settings_class=Settings, build_api=build_api, run_worker=run_printing_worker)
