"""`chargectl operator`: the central system for a fleet of Kubernetes custom resources.

The same serving process as `chargectl serve`, with the same options
(`cli.options.central_system_options`); instead of a fleet directory it watches the six
kinds in one namespace, several (`-n` repeated), or all (`-A`), and reaches the API server
in the cluster (the pod's service account), through a kubeconfig, or at `--kube-url`.
kopf and the `kubernetes` client are imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from controller.cli.options import central_system_options


@click.command("operator")
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    metavar="NAMESPACE",
    help="A namespace whose custom resources are the fleet; repeat for several. Default: the "
    "pod's namespace in a cluster, else the kubeconfig context's (else default).",
)
@click.option(
    "--all-namespaces",
    "-A",
    is_flag=True,
    help="Watch the custom resources of every namespace (needs cluster-wide list/watch).",
)
@click.option(
    "--kube-url",
    metavar="URL",
    help="The API server's URL, used as given with no credentials (kubectl proxy, a test "
    "emulator). Default: in a cluster the pod's service account, else the kubeconfig.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).",
)
@click.option("--context", metavar="NAME", help="The kubeconfig context (default: its current).")
@click.option(
    "--secrets-namespace",
    metavar="NAMESPACE",
    help="Where the Secrets chargers name (secretKeyRef) are read and watched. Default: the "
    "operator's own namespace (the pod's, or the context's), else the first watched one.",
)
@central_system_options()
def operator(
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    kube_url: str | None,
    kubeconfig: Path | None,
    context: str | None,
    secrets_namespace: str | None,
    **given: Any,
) -> None:
    """Run the OCPP central system for the fleet declared as Kubernetes custom resources."""
    if namespaces and all_namespaces:
        raise click.UsageError("give --namespace or --all-namespaces, not both")
    if kube_url is not None and (kubeconfig is not None or context is not None):
        raise click.UsageError("--kube-url is used as given: no --kubeconfig or --context")
    if kube_url is not None and not kube_url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{kube_url!r} is not an http(s) URL", param_hint="--kube-url")

    from controller.cli.serve import run_server, serve_options
    from controller.runtime.operator import operator_options
    from controller.sources.kubernetes.api import ApiOrigin
    from controller.sources.kubernetes.source import KubernetesOptions

    kubernetes = KubernetesOptions(
        origin=ApiOrigin(url=kube_url, kubeconfig=kubeconfig, context=context),
        namespaces=namespaces,
        all_namespaces=all_namespaces,
        secrets_namespace=secrets_namespace,
    )
    run_server(operator_options(serve_options([], given), kubernetes))
