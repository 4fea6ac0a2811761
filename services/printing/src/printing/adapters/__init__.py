"""Where printing meets the world: MongoDB, templates, printers."""
