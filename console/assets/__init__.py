"""Files the package ships: the probe images of demo-vl (console/assets/probe/)."""
