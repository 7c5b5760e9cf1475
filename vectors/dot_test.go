package vectors

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDotMatchesPlainSum(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 7, 31, 32, 33, 64, 100, 512, 1536, 3072} {
		a, b := make([]float32, n), make([]float32, n)
		var want float64
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			want += float64(a[i]) * float64(b[i])
		}
		got := dot(a, b)
		if math.Abs(float64(got)-want) > 1e-4*math.Max(1, math.Abs(want)) {
			t.Errorf("dot of %d-d vectors = %v, want %v", n, got, want)
		}
		if g := dotGo(a, b); math.Abs(float64(g)-want) > 1e-4*math.Max(1, math.Abs(want)) {
			t.Errorf("dotGo of %d-d vectors = %v, want %v", n, g, want)
		}
	}
}

func BenchmarkDot512(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := randVec(r, 512), randVec(r, 512)
	var s float32
	for b.Loop() {
		s += dot(x, y)
	}
	_ = s
}
