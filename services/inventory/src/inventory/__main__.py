"""`python -m inventory api|worker`."""

from inventory.bootstrap import build_api, run_inventory_worker
from inventory.config import Settings
from oms_platform.runtime import service_main

if __name__ == "__main__":
    service_main("inventory", settings_class=Settings, build_api=build_api, run_worker=run_inventory_worker)
