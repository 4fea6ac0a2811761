"""`python -m orders api|worker`."""

from orders.bootstrap import build_api, run_orders_worker
from orders.config import Settings
from oms_platform.runtime import service_main

if __name__ == "__main__":
    service_main("orders", settings_class=Settings, build_api=build_api, run_worker=run_orders_worker)
