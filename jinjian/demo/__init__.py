"""The bundled demo web: small realistic sites served on loopback, one port each."""
