package prompts

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestSampleIsDeterministicInSeedAndSlot(t *testing.T) {
	s := builtin(t, "correction_script")
	a, b := s.Sample(7, 11), s.Sample(7, 11)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("Sample(7, 11) = %v, then %v; want the same", a, b)
	}
	if len(a) != len(s.Dimensions) {
		t.Errorf("Sample(7, 11) has %d values, want one per dimension (%d)", len(a), len(s.Dimensions))
	}
	differ := 0
	for slot := range 50 {
		if !reflect.DeepEqual(s.Sample(7, slot), s.Sample(8, slot)) {
			differ++
		}
	}
	if differ < 45 {
		t.Errorf("seeds 7 and 8 agree on %d of 50 slots, want different samples", 50-differ)
	}
}

func TestSampleOfADimensionIgnoresOtherDimensionsAndValueOrder(t *testing.T) {
	one := mustParse(t, strings.Replace(minimal, "[travel, food]", "{travel: 1, food: 2, work: 3}", 1))
	more := mustParse(t, strings.Replace(minimal, "[travel, food]", "{work: 3, food: 2, travel: 1}\n  style: [a, b, c]", 1))
	for slot := range 200 {
		if a, b := one.Sample(1, slot)["theme"], more.Sample(1, slot)["theme"]; a != b {
			t.Fatalf("slot %d: theme = %q alone, %q with another dimension and reordered weights; want the same", slot, a, b)
		}
	}
}

func TestSampleFollowsTheWeights(t *testing.T) {
	s := mustParse(t, strings.Replace(minimal, "[travel, food]", "{travel: 1, food: 2, work: 3, family: 4}\n  even: [a, b, c, d, e]", 1))
	const n = 20000
	for _, d := range s.Dimensions {
		counts := map[string]int{}
		for slot := range n {
			counts[s.Sample(42, slot)[d.Name]]++
		}
		total := 0.0
		for _, w := range d.Weights {
			total += w
		}
		chi2 := 0.0
		for i, v := range d.Values {
			want := d.Weights[i] / total
			got := float64(counts[v]) / n
			if math.Abs(got-want) > 0.02 {
				t.Errorf("%s=%s picked %.3f of the time, want %.3f ± 0.02", d.Name, v, got, want)
			}
			exp := want * n
			chi2 += (float64(counts[v]) - exp) * (float64(counts[v]) - exp) / exp
		}
		// 99.9th percentile of chi-square with 4 degrees of freedom (the most here).
		if chi2 > 18.47 {
			t.Errorf("%s: chi-square %.1f over %d slots, want below 18.47 (counts %v)", d.Name, chi2, n, counts)
		}
	}
}

func BenchmarkSample(b *testing.B) {
	all, err := Builtin()
	if err != nil {
		b.Fatal(err)
	}
	s := all[0]
	for i := range b.N {
		s.Sample(1, i)
	}
}
