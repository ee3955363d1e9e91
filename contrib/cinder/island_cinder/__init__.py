"""island's Cinder volume driver: forwards Cinder's driver calls to island over oslo.messaging."""
