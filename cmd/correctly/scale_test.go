package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/correctly/correctly/mistakes"
)

// BenchmarkCorpusAtScale runs the CLI's reading commands against an embedded corpus of 20,000,
// 200,000 and 1,000,000 records, made the way the issue made them (`generate --backend rules
// --source FILE --no-dedup`, four runs), and reports for each command the median wall time and
// peak RSS of three runs of the binary:
//
//	go test -run '^$' -bench CorpusAtScale -benchtime 1x -timeout 90m ./cmd/correctly/
//	CORRECTLY_SCALE=20000,200000 go test ...   # fewer sizes
//
// The corpora are built once into the user's cache directory (about 6 minutes and 3 GB for the
// million) and reused while the fixture's version stays the same.
func BenchmarkCorpusAtScale(b *testing.B) {
	bin := buildBinary(b)
	sizes := []int{20000, 200000, 1000000}
	if v := os.Getenv("CORRECTLY_SCALE"); v != "" {
		sizes = sizes[:0]
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("CORRECTLY_SCALE=%q: %v", v, err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, size := range sizes {
		fx := scaleFixture(b, bin, size)
		for _, c := range scaleCommands(fx) {
			b.Run(fmt.Sprintf("%s/records=%d", c.name, size), func(b *testing.B) {
				var walls, rss []float64
				for i := 0; i < b.N; i++ {
					for round := 0; round < 3; round++ {
						w, r := runMeasured(b, bin, fx.env(), c.args...)
						walls, rss = append(walls, w), append(rss, r)
					}
				}
				reportRounds(b, walls, rss)
			})
		}
	}
}

type scaleCmd struct {
	name string
	args []string
}

func scaleCommands(fx *fixture) []scaleCmd {
	last := fx.runs[len(fx.runs)-1]
	return []scaleCmd{
		{"start", []string{"runs", "list", "--limit", "1"}},
		{"list", []string{"corpus", "list", "--limit", "20", "--json"}},
		{"list-accepted", []string{"corpus", "list", "--status", "accepted", "--limit", "20", "--json"}},
		{"list-rejected", []string{"corpus", "list", "--status", "rejected", "--limit", "20", "--json"}},
		{"list-prompt", []string{"corpus", "list", "--prompt", "learner_errors", "--limit", "20", "--json"}},
		{"list-run", []string{"corpus", "list", "--run", last, "--status", "accepted", "--limit", "20", "--json"}},
		{"show", []string{"corpus", "show", fx.lastRecord, "--json"}},
		{"runs-show", []string{"runs", "show", last, "--json"}},
		{"stats", []string{"corpus", "stats", "--json"}},
		{"stats-by", []string{"corpus", "stats", "--status", "accepted", "--by", "theme,errors", "--json"}},
		{"report", []string{"report", "--json"}},
	}
}

// fixture is a data directory holding a corpus of a given size.
type fixture struct {
	dir        string
	runs       []string
	lastRecord string
}

func (fx *fixture) env() []string {
	return append(os.Environ(), "CORRECTLY_DATA_DIR="+filepath.Join(fx.dir, "data"), "MONGODB_URI=", "CHROMA_URL=",
		"XDG_CONFIG_HOME="+filepath.Join(fx.dir, "config"), "OPENAI_API_KEY=", "OPENAI_BASE_URL=")
}

// fixtureVersion changes when the way fixtures are made changes, so that stale ones are rebuilt.
const fixtureVersion = "v2"

func scaleFixture(tb testing.TB, bin string, size int) *fixture {
	tb.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	fx := &fixture{dir: filepath.Join(cache, "correctly-bench", fmt.Sprintf("corpus-%s-%d", fixtureVersion, size))}
	ready := filepath.Join(fx.dir, "READY")
	if b, err := os.ReadFile(ready); err == nil {
		if json.Unmarshal(b, fx) == nil && len(fx.runs) > 0 {
			return fx
		}
	}
	tb.Logf("building a corpus of %d records in %s (once)", size, fx.dir)
	start := time.Now()
	_ = os.RemoveAll(fx.dir)
	if err := os.MkdirAll(fx.dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	source := filepath.Join(fx.dir, "source.txt")
	writeDistinctTexts(tb, source, size/4+size/40)
	for i := 0; i < 4; i++ {
		out := runScaleCLI(tb, bin, fx.env(), "generate", "--backend", "rules", "-n", fmt.Sprint(size/4), "--no-dedup",
			"--source", source, "--seed", fmt.Sprint(i+1), "--json")
		var s struct {
			RunID    string `json:"run_id"`
			Accepted int    `json:"accepted"`
		}
		if err := json.Unmarshal(out, &s); err != nil || s.Accepted != size/4 {
			tb.Fatalf("generate: %v (%s)", err, out)
		}
		fx.runs = append(fx.runs, s.RunID)
		fx.lastRecord = fmt.Sprintf("%s-%05d", s.RunID, size/4-1)
	}
	b, _ := json.Marshal(map[string]any{"runs": fx.runs, "last_record": fx.lastRecord})
	if err := os.WriteFile(ready, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("built the corpus of %d records in %s", size, time.Since(start).Round(time.Second))
	return fx
}

func (fx *fixture) UnmarshalJSON(b []byte) error {
	var v struct {
		Runs       []string `json:"runs"`
		LastRecord string   `json:"last_record"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	fx.runs, fx.lastRecord = v.Runs, v.LastRecord
	return nil
}

// writeDistinctTexts writes n distinct clean texts, one a line: three sentences of the bundled
// texts in a random order, with names and numbers varied.
func writeDistinctTexts(tb testing.TB, path string, n int) {
	tb.Helper()
	var sentences []string
	for _, t := range mistakes.Bundled() {
		for _, s := range strings.SplitAfter(t.Text, ". ") {
			if s = strings.TrimSpace(s); len(s) > 20 {
				sentences = append(sentences, strings.TrimSuffix(s, ".")+".")
			}
		}
	}
	names := []string{"Minji", "Jisoo", "Hyun", "Daniel", "Sora", "Tom", "Yuna", "Kevin", "Eunji", "Mark", "Hana", "Jay"}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(7, 11))
	seen := make(map[string]bool, n)
	for len(seen) < n {
		t := fmt.Sprintf("%s %s %s I told %s about it on day %d.", sentences[rng.IntN(len(sentences))],
			sentences[rng.IntN(len(sentences))], sentences[rng.IntN(len(sentences))], names[rng.IntN(len(names))], 1+rng.IntN(365))
		if seen[t] {
			continue
		}
		seen[t] = true
		fmt.Fprintln(w, t)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
}

func runScaleCLI(tb testing.TB, bin string, env []string, args ...string) []byte {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("correctly %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// reportRounds reports the median wall time of a command's rounds (seconds, reported in ms) with the
// fastest and slowest beside it, and the median peak RSS (MB).
func reportRounds(b *testing.B, walls, rss []float64) {
	sort.Float64s(walls)
	sort.Float64s(rss)
	b.ReportMetric(walls[len(walls)/2]*1000, "ms")
	b.ReportMetric(walls[0]*1000, "fastest_ms")
	b.ReportMetric(walls[len(walls)-1]*1000, "slowest_ms")
	b.ReportMetric(rss[len(rss)/2], "MB_RSS")
}

// runMeasured runs the binary once and returns its wall time in seconds and peak RSS in MB. The peak
// is the child's VmHWM, read from /proc while it runs: the rusage wait4 returns would count the
// memory of this test process, which the child holds for an instant after fork, before its exec.
func runMeasured(tb testing.TB, bin string, env []string, args ...string) (float64, float64) {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var peakKB float64
	var err error
	for running := true; running; {
		select {
		case err = <-done:
			running = false
		case <-time.After(2 * time.Millisecond):
			if kb := vmHWM(status); kb > peakKB {
				peakKB = kb
			}
		}
	}
	wall := time.Since(start).Seconds()
	if err != nil {
		tb.Fatalf("correctly %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return wall, peakKB / 1024
}

// vmHWM reads a process's peak resident set size in kB from its /proc status, 0 when gone.
func vmHWM(status string) float64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb
		}
	}
	return 0
}
