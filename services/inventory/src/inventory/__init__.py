"""The inventory service: stock per SKU and location, and the ledger of every change."""
