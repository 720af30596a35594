"""``python -m socs_tcp bench``: socs_tcp beside what you would use instead.

``peer`` is the device (a process of its own), ``clients`` connects each
library its own way (``native`` builds and drives the C client),
``workloads`` defines each measurement once, and ``run`` runs them side by
side and reports. The development targets live in the repository's
``benchmarks/``, not here.
"""
