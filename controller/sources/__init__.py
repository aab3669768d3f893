"""Sources of desired state: a directory of YAML files, or Kubernetes custom resources."""
