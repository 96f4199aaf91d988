"""The fidelity of the simulator itself, through real HTTP."""
