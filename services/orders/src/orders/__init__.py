"""The orders service: owns the order book."""
