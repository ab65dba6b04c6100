"""NAPALM driver for FRRouting (``napalm.get_network_driver("frr")``)."""

from napalm_frr.frr import FRRDriver

__all__ = ["FRRDriver"]
