package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const sampleBench = `goos: linux
=== RUN   BenchmarkEngineThroughput
BenchmarkEngineThroughput/llm-2         	       1	23747469979 ns/op	        44.16 attempts/s	        42.30 records/s
--- BENCH: BenchmarkEngineThroughput/llm-2
    bench_test.go:203: round 0: 1000 accepted
BenchmarkExtract 	  354037	      3391 ns/op	    294891 pairs/s	    301442 pairs/cpu-s
BenchmarkDedupCheckAndIndex/embedded/batch=32-2   	    2208	    559375 ns/op	      1788 records/s
BenchmarkInject-2   	  100000	     11111 ns/op	    2048 B/op	      12 allocs/op
PASS
`

func TestParseBenchReadsEveryFigureAndDropsTheProcsSuffix(t *testing.T) {
	got := parseBench(sampleBench)
	want := []figure{
		{"BenchmarkEngineThroughput/llm", "ns/op", 23747469979},
		{"BenchmarkEngineThroughput/llm", "attempts/s", 44.16},
		{"BenchmarkEngineThroughput/llm", "records/s", 42.30},
		{"BenchmarkExtract", "ns/op", 3391},
		{"BenchmarkExtract", "pairs/s", 294891},
		{"BenchmarkExtract", "pairs/cpu-s", 301442},
		{"BenchmarkDedupCheckAndIndex/embedded/batch=32", "ns/op", 559375},
		{"BenchmarkDedupCheckAndIndex/embedded/batch=32", "records/s", 1788},
		{"BenchmarkInject", "ns/op", 11111},
		{"BenchmarkInject", "B/op", 2048},
		{"BenchmarkInject", "allocs/op", 12},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseBench =\n%v\nwant\n%v", got, want)
	}
}

func TestParseLogsTakesTheFirstMatchOfEachFigure(t *testing.T) {
	out := `=== RUN   TestHashThresholdCalibration
    calibration_test.go:320: sweep: threshold 0.100: recall 0.500 on 400 planted near-duplicates, false positives 0.000 on 200 distinct pairs
    calibration_test.go:323: default: threshold 0.300: recall 0.975 on 400 planted near-duplicates, false positives 0.005 on 200 distinct pairs
    calibration_test.go:323: default: threshold 0.300: recall 0.100 on 1 planted near-duplicates, false positives 0.900 on 1 distinct pairs
--- PASS: TestHashThresholdCalibration (0.20s)
`
	want := []logFigure{
		{Name: "recall", Re: regexp.MustCompile(`^default: threshold [0-9.]+: recall ([0-9.]+)`), Unit: "recall"},
		{Name: "fp", Re: regexp.MustCompile(`^default: .*false positives ([0-9.]+)`), Unit: "fp_rate"},
		{Name: "absent", Re: regexp.MustCompile(`^nothing ([0-9.]+)`), Unit: "x"},
	}
	got := parseLogs(out, want)
	if w := []figure{{"recall", "recall", 0.975}, {"fp", "fp_rate", 0.005}}; !reflect.DeepEqual(got, w) {
		t.Errorf("parseLogs = %v, want %v", got, w)
	}
}

func TestTableRowsJudgeGoalsAndReportMissingOnes(t *testing.T) {
	j := job{Pkg: "generator", Goals: []goal{
		{Name: "BenchmarkRate", Unit: "limit_fraction", Op: ">=", Value: 0.95},
		{Name: "BenchmarkRate", Unit: "lost_records", Op: "<=", Value: 0},
		{Name: "BenchmarkEngine/llm", Unit: "records/s", Op: ">=", Value: 500},
	}}
	figs := []figure{
		{"BenchmarkRate", "ns/op", 2e10},
		{"BenchmarkRate", "records/s", 4.99},
		{"BenchmarkRate", "limit_fraction", 0.97},
		{"BenchmarkRate", "lost_records", 1},
		{"BenchmarkOther", "ns/op", 1500},
	}
	got := tableRows(j, figs, false, false, false)
	want := []row{
		{"generator BenchmarkRate", "4.990 records/s", "", ""},
		{"generator BenchmarkRate", "0.970 limit_fraction", ">= 0.95 limit_fraction", "pass"},
		{"generator BenchmarkRate", "1.000 lost_records", "<= 0 lost_records", "short"},
		{"generator BenchmarkOther", "1.5µs/op", "", ""},
		{"generator BenchmarkEngine/llm", "-", ">= 500 records/s", "missing"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tableRows =\n%v\nwant\n%v", got, want)
	}
}

func TestTableRowsSayWhyAJobHasNoFigures(t *testing.T) {
	for _, tc := range []struct {
		name               string
		missingPkg, failed bool
		want               string
	}{
		{"package not written yet", true, false, "missing (no package splits)"},
		{"run failed", false, true, "missing (run failed)"},
		{"ran but printed nothing", false, false, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := tableRows(job{Pkg: "splits", Bench: "."}, nil, tc.missingPkg, tc.failed, false)
			if len(rows) != 1 || rows[0].Verdict != tc.want {
				t.Errorf("tableRows = %v, want one row with %q", rows, tc.want)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0.000", 0.0123: "0.012", 0.005: "0.005", 0.00123: "0.00123", 0.8808: "0.881", 3.14159: "3.142",
		42.375: "42.38", 512.26: "512.3", 1234567.8: "1,234,568", -2500: "-2,500",
	} {
		if got := formatValue(in); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestReplaceBetweenMarkersKeepsTheRestOfTheFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "README.md")
	before := "# x\n\n## Performance\n" + startMarker + "\nold table\n" + endMarker + "\n\n## Next\n"
	if err := os.WriteFile(f, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replaceBetweenMarkers(f, "new table\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f)
	want := "# x\n\n## Performance\n" + startMarker + "\nnew table\n" + endMarker + "\n\n## Next\n"
	if string(got) != want {
		t.Errorf("README after = %q, want %q", got, want)
	}
}

func TestReplaceBetweenMarkersRefusesAFileWithoutMarkers(t *testing.T) {
	f := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(f, []byte("# no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := replaceBetweenMarkers(f, "table\n")
	if err == nil || !strings.Contains(err.Error(), startMarker) {
		t.Errorf("replaceBetweenMarkers without markers = %v, want an error naming %s", err, startMarker)
	}
}

func TestEveryGoalPatternCompilesAndJobNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, j := range jobs {
		if seen[j.name()] {
			t.Errorf("two jobs named %s: -only could not tell them apart", j.name())
		}
		seen[j.name()] = true
		if (j.Bench == "") == (j.Test == "") {
			t.Errorf("job %s: want exactly one of Bench and Test", j.name())
		}
		for _, g := range j.Goals {
			if _, err := regexp.Compile("^(?:" + g.Name + ")$"); err != nil {
				t.Errorf("job %s: goal name %q: %v", j.name(), g.Name, err)
			}
			if g.Op != ">=" && g.Op != "<=" {
				t.Errorf("job %s: goal %q has op %q, want >= or <=", j.name(), g.Name, g.Op)
			}
		}
	}
}

func TestShortRowsListsWhatFallsShortOrIsMissing(t *testing.T) {
	rows := []row{
		{Name: "a", Verdict: "pass"}, {Name: "b", Verdict: "short"}, {Name: "c"},
		{Name: "d", Verdict: "missing (run failed)"},
	}
	var names []string
	for _, r := range shortRows(rows) {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "b,d" {
		t.Errorf("shortRows = %s, want b,d", got)
	}
}
