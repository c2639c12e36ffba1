"""drconsole: a disaster-recovery console for the QSIGN signing service.

Layers (imports only point down): ``cli`` builds everything; ``tui`` is the only place that
imports textual; ``engine`` runs plans; ``journal`` keeps the run record; ``plans`` models and
validates plans; ``adapters`` talk to real systems; ``report`` renders a run from its journal.
"""

__version__ = "0.1.0"
