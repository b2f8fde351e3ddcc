"""The real control plane: kube-apiserver and etcd built from their Go modules, their certificates and
kubeconfigs, the CRD written from the API models, and the Kubernetes clients the tests use."""
