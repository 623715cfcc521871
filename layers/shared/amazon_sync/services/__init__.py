"""Services: the export, the acknowledgment and crash recovery, composed from the domain and the adapters."""
