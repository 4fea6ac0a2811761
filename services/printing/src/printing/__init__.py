"""The printing service: owns print jobs, document templates and printers."""
