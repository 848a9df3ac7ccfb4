//go:build tools

// Package tools pins KubeRay's operator (github.com/ray-project/kuberay/ray-operator), the peer rayop is benchmarked
// against. benchmarks/rayop_bench/kuberay.py builds it with `go build` from this module; `go install` would ignore any
// replace directive a future release might need.
package tools

import _ "github.com/ray-project/kuberay/ray-operator"
