"""`python -m fulfilment api|worker`."""

from fulfilment.bootstrap import build_api, run_fulfilment_worker
from fulfilment.config import Settings
from oms_platform.runtime import service_main

if __name__ == "__main__":
    service_main("fulfilment", settings_class=Settings, build_api=build_api, run_worker=run_fulfilment_worker)
