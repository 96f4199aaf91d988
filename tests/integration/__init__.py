"""The provider against the simulator on loopback."""
