// The prometheus-operator CRDs (ServiceMonitor, PrometheusRule), taken from the files of the
// project's own Go module (example/prometheus-operator-crd/), so that the chart's monitoring
// objects are validated by the test API server against the real schemas. No Go code: the module
// is only downloaded (src/envtest/build.ts, goModuleDir), verified against go.sum.
module emr-serverless-operator/test/monitoring-crds

go 1.26.0

require github.com/prometheus-operator/prometheus-operator v0.85.0
