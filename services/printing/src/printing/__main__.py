"""`python -m printing api|worker`."""

from printing.bootstrap import build_api, run_printing_worker
from printing.config import Settings
from oms_platform.runtime import service_main

if __name__ == "__main__":
    service_main("printing", settings_class=Settings, build_api=build_api, run_worker=run_printing_worker)
