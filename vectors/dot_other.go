//go:build !amd64

package vectors

// dot is the inner product of two equal-length vectors.
func dot(a, b []float32) float32 { return dotGo(a, b) }
