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
@click.option(
    "--admission-webhook",
    is_flag=True,
    help="Serve the validating admission webhook: kubectl apply of a resource the fleet would "
    "refuse is refused with validate's message (DELETE never is). Off by default.",
)
@click.option(
    "--webhook-address",
    default="127.0.0.1",
    show_default=True,
    help="Where the webhook listens (0.0.0.0 in a pod, for the API server to reach it).",
)
@click.option("--webhook-port", type=click.IntRange(0, 65535), default=9443, show_default=True)
@click.option(
    "--webhook-host",
    metavar="NAME",
    help="The name the API server calls (the Service's DNS name): in the self-signed "
    "certificate and the webhook configuration's URL. Default: the listen address.",
)
@click.option(
    "--webhook-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The webhook's certificate (a mounted TLS Secret, cert-manager's); with "
    "--webhook-key. Default: a self-signed one made at start.",
)
@click.option("--webhook-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--webhook-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The CA bundle announced to the API server (default: the certificate itself).",
)
@click.option(
    "--webhook-configuration",
    metavar="NAME",
    help="Keep the ValidatingWebhookConfiguration of this name pointing at the webhook "
    "(kopf's managed mode; needs RBAC on validatingwebhookconfigurations). Default: none is "
    "kept (the chart or cert-manager keeps it).",
)
@click.option(
    "--webhook-service",
    metavar="NAMESPACE/NAME:PORT",
    help="The Service in front of the webhook: the kept configuration names it, and the "
    "self-signed certificate is for NAME.NAMESPACE.svc (unless --webhook-host).",
)
@central_system_options()
def operator(
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    kube_url: str | None,
    kubeconfig: Path | None,
    context: str | None,
    secrets_namespace: str | None,
    admission_webhook: bool,
    webhook_address: str,
    webhook_port: int,
    webhook_host: str | None,
    webhook_cert: Path | None,
    webhook_key: Path | None,
    webhook_ca: Path | None,
    webhook_configuration: str | None,
    webhook_service: str | None,
    **given: Any,
) -> None:
    """Run the OCPP central system for the fleet declared as Kubernetes custom resources."""
    if namespaces and all_namespaces:
        raise click.UsageError("give --namespace or --all-namespaces, not both")
    if kube_url is not None and (kubeconfig is not None or context is not None):
        raise click.UsageError("--kube-url is used as given: no --kubeconfig or --context")
    if kube_url is not None and not kube_url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{kube_url!r} is not an http(s) URL", param_hint="--kube-url")

    if (webhook_cert is None) != (webhook_key is None):
        raise click.UsageError("give --webhook-cert and --webhook-key together")
    service = _service(webhook_service) if webhook_service is not None else None

    from controller.cli.serve import run_server, serve_options
    from controller.runtime.operator import operator_options
    from controller.sources.kubernetes.admission import AdmissionOptions
    from controller.sources.kubernetes.api import ApiOrigin
    from controller.sources.kubernetes.source import KubernetesOptions

    kubernetes = KubernetesOptions(
        origin=ApiOrigin(url=kube_url, kubeconfig=kubeconfig, context=context),
        namespaces=namespaces,
        all_namespaces=all_namespaces,
        secrets_namespace=secrets_namespace,
        admission=AdmissionOptions(
            address=webhook_address,
            port=webhook_port,
            host=webhook_host,
            certfile=webhook_cert,
            keyfile=webhook_key,
            cafile=webhook_ca,
            managed=webhook_configuration,
            service=service,
        )
        if admission_webhook
        else None,
    )
    run_server(operator_options(serve_options([], given), kubernetes))


def _service(given: str) -> tuple[str, str, int]:
    where, _, port = given.partition(":")
    namespace, _, name = where.partition("/")
    if not namespace or not name or not port.isdigit():
        raise click.BadParameter(
            f"{given!r} is not NAMESPACE/NAME:PORT", param_hint="--webhook-service"
        )
    return namespace, name, int(port)
