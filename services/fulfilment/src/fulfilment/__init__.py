"""The fulfilment service: owns shipments, their tracking numbers and the documents each order needs."""
