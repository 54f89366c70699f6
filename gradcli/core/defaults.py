"""The defaults of a run's settings, written once.

`api.Options` takes its defaults from here, and so do the core's `MODE`,
the interpreter and the command line: the command line shows them in
--help without importing the api (which loads numpy), and the core may not
import the api at all.
"""

DTYPE = "float64"
MAX_STEPS = 10_000_000          # statements a run may execute
MAX_ELEMENTS = 100_000_000      # numbers in any one array
MAX_MEMORY = None               # bytes; None: a quarter of physical memory
TIMEOUT = None                  # seconds of wall clock; None: no limit
GRAPH_NODES = 500               # nodes `gradcli graph` and `:graph` expand
EXPLAIN_STEPS = 40              # steps `gradcli explain` and `:explain` show in full
