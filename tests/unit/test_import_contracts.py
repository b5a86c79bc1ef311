"""The import contracts of pyproject.toml ([tool.importlinter], checked by ``make lint``) rest on
grimp's graph; these hold it to what they assume."""

import grimp


def test_the_graph_counts_imports_made_inside_functions():
    graph = grimp.build_graph("sync")
    # sync.bootstrap imports its adapters only inside the functions that build them (cold start).
    assert graph.direct_import_exists(importer="sync.bootstrap", imported="sync.adapters.pubsub")
    lines = {d["line_contents"] for d in graph.get_import_details(importer="sync.bootstrap",
                                                                 imported="sync.adapters.pubsub")}
    assert lines and all(line.startswith("from sync.adapters.pubsub import") for line in lines)
