"""Prometheus's own parser of the text format, for the dpweb tests (unit
and integration: tests/integration/test_dpweb.py loads this file by its
path).  Standard library only, imports nothing of this tree."""


def prometheus_parser():
    """prometheus_client's text_string_to_metric_families (Debian's
    python3-prometheus-client, .ci/run installs it), or None.  Its
    dist-packages is looked at too: a python3 of its own (pyenv) does
    not see Debian's packages."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
        return text_string_to_metric_families
    except ImportError:
        pass
    import os
    import sys
    d = '/usr/lib/python3/dist-packages'
    if not os.path.isdir(os.path.join(d, 'prometheus_client')) or d in sys.path:
        return None
    sys.path.append(d)
    try:
        from prometheus_client.parser import text_string_to_metric_families
        return text_string_to_metric_families
    except ImportError:
        return None
    finally:
        sys.path.remove(d)
