"""How the operator reaches the API server (`controller.sources.kubernetes.api.credentials`):
what kopf is given and what our own session uses are read from the same place."""

from __future__ import annotations

from pathlib import Path

from controller.sources.kubernetes.api import ApiOrigin, credentials

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://lab.example:6443
    insecure-skip-tls-verify: true
users:
- name: operator
  user:
    token: s3cr3t-token
contexts:
- name: lab
  context: {cluster: lab, user: operator, namespace: chargers}
- name: other
  context: {cluster: lab, user: operator, namespace: elsewhere}
current-context: lab
"""


def test_a_kubeconfig_gives_the_server_token_and_the_context_s_namespace(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(KUBECONFIG)
    found = credentials(ApiOrigin(kubeconfig=config))
    assert (found.server, found.token, found.namespace) == (
        "https://lab.example:6443",
        "s3cr3t-token",
        "chargers",
    )
    assert found.insecure
    assert credentials(ApiOrigin(kubeconfig=config, context="other")).namespace == "elsewhere"


def test_a_url_is_used_as_given_without_credentials() -> None:
    found = credentials(ApiOrigin(url="http://127.0.0.1:8001/"))
    assert (found.server, found.token, found.namespace) == ("http://127.0.0.1:8001", None, None)
    assert found.ssl_context() is None
