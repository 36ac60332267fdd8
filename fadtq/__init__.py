"""FAD-TQ on verl: fine-grained industrial anomaly detection with thinking-quality rewards."""

__version__ = "0.1.0"
