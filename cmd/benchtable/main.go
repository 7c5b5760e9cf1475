// Command benchtable runs every benchmark of the repository, and the few tests that measure a figure
// with a goal, and prints one table: name, figure, goal, pass/short. It is what `make bench` runs.
//
//	go run ./cmd/benchtable                      # everything, table on stdout, progress on stderr
//	go run ./cmd/benchtable -only 'edits|vectors' # jobs whose name matches
//	go run ./cmd/benchtable -md docs/performance.md
//	go run ./cmd/benchtable -readme README.md     # rewrite the table between the bench markers
//
// Each package's test binary is built once (go test -c) and run from the package directory, one
// job at a time, with that job's -test.bench, -test.benchtime and -test.cpu. The table ends with the
// figures that fall short of their goals (or are missing); the exit status is 1 when there are any,
// or when a package fails to build or a benchmark or test fails to run, and 2 for bad flags.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// job is one run of a package's test binary: benchmarks (Bench) or one test whose log lines carry
// figures (Test with Logs).
type job struct {
	Pkg       string // directory relative to the repository root
	Bench     string // -test.bench pattern
	Test      string // -test.run pattern, for figures read from a test's log
	Benchtime string
	CPU       string
	Timeout   time.Duration
	Logs      []logFigure
	Goals     []goal
	Note      string // shown in the Markdown notes
}

// name is what -only matches and what progress lines show.
func (j job) name() string {
	pattern := j.Bench
	if j.Test != "" {
		pattern = j.Test
	}
	if pattern == "." {
		pattern = "all"
	}
	return j.Pkg + "/" + strings.NewReplacer("^", "", "$", "").Replace(pattern)
}

// logFigure reads a figure from a test's log lines: the first submatch of Re.
type logFigure struct {
	Name string
	Re   *regexp.Regexp
	Unit string
}

// goal is what a figure must reach: every figure of the job whose name matches Name (a whole-name
// pattern) and whose unit is Unit is held to it.
type goal struct {
	Name  string
	Unit  string
	Op    string // ">=" or "<="
	Value float64
}

func (g goal) String() string {
	v := strconv.FormatFloat(g.Value, 'f', -1, 64)
	if g.Value >= 1000 || g.Value <= -1000 {
		v = thousands(strconv.FormatFloat(g.Value, 'f', 0, 64))
	}
	return g.Op + " " + v
}

func (g goal) met(v float64) bool {
	if g.Op == "<=" {
		return v <= g.Value
	}
	return v >= g.Value
}

func (g goal) matches(f figure) bool {
	return f.Unit == g.Unit && regexp.MustCompile("^(?:"+g.Name+")$").MatchString(f.Name)
}

// figure is one measured value.
type figure struct {
	Name  string
	Unit  string
	Value float64
}

// A push of a 256 MiB bundle cut at 40% may send again 2 MiB + 1% of the bundle.
const (
	mib           = 1 << 20
	pushBundle    = 256 * mib
	resentAllowed = 2*mib + pushBundle/100
)

// jobs is every measurement of the repository, in table order, with its goals from the issues.
// Benchmarks not written yet print "missing" against their goals.
var jobs = []job{
	{Pkg: "edits", Bench: "^BenchmarkExtract$", CPU: "1", Benchtime: "2s",
		Goals: []goal{{Name: "BenchmarkExtract", Unit: "pairs/s", Op: ">=", Value: 100000}},
		Note:  "edit extraction, per core (-cpu 1)"},
	{Pkg: "edits", Bench: "^BenchmarkExtractTokens$|^BenchmarkTokenize$", CPU: "1"},
	{Pkg: "edits", Test: "^TestEvaluateOnBEADevReachesSpanF1Goal$",
		Logs: []logFigure{
			{Name: "BEA-dev span F1", Re: regexp.MustCompile(`BEA-dev: .* F1 ([0-9.]+),`), Unit: "F1"},
			{Name: "BEA-dev type accuracy", Re: regexp.MustCompile(`BEA-dev: .*type accuracy ([0-9.]+)`), Unit: "accuracy"},
		},
		Goals: []goal{{Name: "BEA-dev span F1", Unit: "F1", Op: ">=", Value: 0.85}},
		Note:  "needs the BEA-2019 dev set at ../shared/data/gec/bea-dev.m2 beside the repository"},
	{Pkg: "mistakes", Test: "^TestRecordedEditsAgreeWithExtractor$",
		Logs:  []logFigure{{Name: "rules edits vs extractor span F1", Re: regexp.MustCompile(`^span F1 ([0-9.]+):`), Unit: "F1"}},
		Goals: []goal{{Name: "rules edits vs extractor span F1", Unit: "F1", Op: ">=", Value: 0.95}},
		Note:  "the rules backend's recorded edits against edits.Extract on its output, 2,000 texts"},
	{Pkg: "mistakes", Bench: "^BenchmarkInject$"},
	{Pkg: "prompts", Bench: "."},
	{Pkg: "vectors", Bench: "^BenchmarkHashEmbed$", CPU: "1",
		Goals: []goal{{Name: "BenchmarkHashEmbed", Unit: "texts/s", Op: ">=", Value: 20000}},
		Note:  "hash embedder, per core (-cpu 1)"},
	{Pkg: "vectors", Bench: "^BenchmarkDot512$", CPU: "1"},
	{Pkg: "vectors", Test: "^TestHashThresholdCalibration$",
		Logs: []logFigure{
			{Name: "near-duplicate recall", Re: regexp.MustCompile(`^default: threshold [0-9.]+: recall ([0-9.]+)`), Unit: "recall"},
			{Name: "near-duplicate false positives", Re: regexp.MustCompile(`^default: .*false positives ([0-9.]+)`), Unit: "fp_rate"},
		},
		Goals: []goal{
			{Name: "near-duplicate recall", Unit: "recall", Op: ">=", Value: 0.95},
			{Name: "near-duplicate false positives", Unit: "fp_rate", Op: "<=", Value: 0.01},
		},
		Note: "hash-512 at its default threshold on vectors/testdata/neardup.jsonl"},
	{Pkg: "generator", Bench: "^BenchmarkDedupAdmission$", Benchtime: "1x", Timeout: 60 * time.Minute,
		Goals: []goal{
			{Name: "BenchmarkDedupAdmission/indexed=1000000", Unit: "records/s", Op: ">=", Value: 500},
			{Name: "BenchmarkDedupAdmission/.*", Unit: "duplicates", Op: "<=", Value: 0},
		},
		Note: "the generator's admission path (Dedup.Admit, 16 in flight) on distinct texts with 20k, 200k and 1M records indexed in the embedded index, median of 3 rounds of 3,000 (spread beside it), ratio to the 20k figure; -admit-max caps the size, -admit-index chroma uses the server at CHROMA_URL"},
	{Pkg: "generator", Bench: "^BenchmarkPacing$", Benchtime: "1x", Timeout: 90 * time.Minute,
		Goals: []goal{
			{Name: "BenchmarkPacing/given/.*", Unit: "limit_share", Op: ">=", Value: 0.95},
			{Name: "BenchmarkPacing/headers/.*", Unit: "limit_share", Op: ">=", Value: 0.90},
			{Name: "BenchmarkPacing/headers/.*", Unit: "429_share", Op: "<=", Value: 0.10},
			{Name: "BenchmarkPacing/batching/.*", Unit: "limit_share", Op: ">=", Value: 0.85},
			{Name: "BenchmarkPacing/.*", Unit: "lost_records", Op: "<=", Value: 0},
			{Name: "BenchmarkPacing/lowest", Unit: "given_share", Op: ">=", Value: 0.95},
			{Name: "BenchmarkPacing/lowest", Unit: "headers_share", Op: ">=", Value: 0.90},
			{Name: "BenchmarkPacing/lowest", Unit: "batching_share", Op: ">=", Value: 0.85},
		},
		Note: "share of the binding limit admitted by a fake server, median of 3 runs (lowest and highest round beside it), from the first admission to the last request opening a slot; given = --rpm/--tpm, headers = limits only in x-ratelimit headers, batching = no limit, best throughput at 32 in flight; latencies 0.1-10 s"},
	{Pkg: "generator", Bench: "^BenchmarkEngineThroughput$", Benchtime: "1x",
		Goals: []goal{
			{Name: "BenchmarkEngineThroughput/llm", Unit: "records/s", Op: ">=", Value: 500},
			{Name: "BenchmarkEngineThroughput/.*", Unit: "lost_records", Op: "<=", Value: 0},
		},
		Note: "zero-latency fake LLM server, embedded store; llm and llm-nodedup at --concurrency 16, llm-adaptive with no flag"},
	{Pkg: "cmd/correctly", Bench: "^BenchmarkCorpusAtScale$", Benchtime: "1x", Timeout: 90 * time.Minute,
		Goals: []goal{
			{Name: "BenchmarkCorpusAtScale/list.*/records=1000000", Unit: "ms", Op: "<=", Value: 200},
			{Name: "BenchmarkCorpusAtScale/list.*/records=1000000", Unit: "MB_RSS", Op: "<=", Value: 200},
			{Name: "BenchmarkCorpusAtScale/(show|runs-show)/records=1000000", Unit: "ms", Op: "<=", Value: 100},
			{Name: "BenchmarkCorpusAtScale/stats.*/records=1000000", Unit: "ms", Op: "<=", Value: 2000},
			{Name: "BenchmarkCorpusAtScale/start/records=1000000", Unit: "ms", Op: "<=", Value: 1000},
			{Name: "BenchmarkCorpusAtScale/report/records=1000000", Unit: "ms", Op: "<=", Value: 60000},
			{Name: "BenchmarkCorpusAtScale/report/records=1000000", Unit: "MB_RSS", Op: "<=", Value: 500},
		},
		Note: "the CLI binary against embedded corpora of 20k, 200k and 1M records made by `generate --backend rules --source FILE --no-dedup` (built once into the user cache, about 10 minutes for the million); median wall time of 3 runs (fastest and slowest beside it) and peak RSS (VmHWM)"},
	{Pkg: "cmd/correctly", Bench: "^BenchmarkEval1000$", Benchtime: "1x", Timeout: 30 * time.Minute,
		Goals: []goal{
			{Name: "BenchmarkEval1000", Unit: "limit_share", Op: ">=", Value: 0.9},
			{Name: "BenchmarkEval1000", Unit: "scorer_share", Op: "<=", Value: 0.01},
		},
		Note: "`correctly eval --m2 bea-dev.m2 --limit 1000` against an endpoint answering in 1-2 s at 1,200 requests/min advertised in headers; median of 3 rounds; needs ../shared/data/gec/bea-dev.m2"},
	{Pkg: "cmd/correctly", Bench: "^BenchmarkBatch$", Benchtime: "1x", Timeout: 30 * time.Minute,
		Goals: []goal{{Name: "BenchmarkBatch", Unit: "answered_lines_sent_again", Op: "<=", Value: 0}},
		Note:  "10,000 records of the two-step default schema through `generate --batch` against the fake Batch API, batches taking 3 s; medians of 3 rounds of the tool's CPU time and peak RSS (VmHWM) per record, and the request lines sent beyond the answers needed"},
	{Pkg: "cmd/correctly", Bench: "^BenchmarkSplitAtScale$", Benchtime: "1x", Timeout: 90 * time.Minute,
		Goals: []goal{
			{Name: "BenchmarkSplitAtScale/(cold|warm)/records=1000000", Unit: "ms", Op: "<=", Value: 120000},
			{Name: "BenchmarkSplitAtScale/dedup-query/records=1000000", Unit: "ms", Op: "<=", Value: 1000},
			{Name: "BenchmarkSplitAtScale/brute-force-check/.*", Unit: "cross_pairs", Op: "<=", Value: 0},
		},
		Note: "split create on copies of the BenchmarkCorpusAtScale corpora, median of 3 (fastest and slowest beside it): cold = the vector index removed first (a corpus made with --no-dedup: every record embedded and indexed), warm = the index holding them; dedup query in a fresh process against the filled index; cross_pairs: near-duplicate pairs in two parts among those of 400 random records, found by brute force over the whole corpus"},
	{Pkg: "trainer", Bench: ".", Benchtime: "1x", Timeout: 20 * time.Minute,
		Goals: []goal{
			{Name: "BenchmarkPush256MiB.*", Unit: "push/scp", Op: ">=", Value: 0.9},
			{Name: "BenchmarkPushThroughRelay.*", Unit: "MiB/s", Op: ">=", Value: 10},
			{Name: "BenchmarkResumeAfterCut.*", Unit: "resent_bytes", Op: "<=", Value: resentAllowed},
		},
		Note: "medians of at least 3 runs each: push of a 256 MiB bundle to a local sshd against scp and rsync of the same bytes, all three with aes128-gcm@openssh.com, interleaved; push through a relay adding 50 ms RTT; resume after a cut at 40%: the bytes the resumed push sends upstream, counted on the wire by the relay, beyond what the box lacked (SSH and SFTP overhead included), may be 2 MiB + 1% of the bundle"},
	{Pkg: "splits", Bench: ".", Benchtime: "1x",
		Note: "BenchmarkAssign100k: the split algorithm on 100,000 records in memory; BenchmarkNearPairs10k: the near-duplicate pairs a split groups by, 10,000 records"},
	{Pkg: "report", Bench: ".", Benchtime: "1x", Note: "report for 100,000 records"},
}

// row is one line of the table.
type row struct {
	Name, Figure, Goal, Verdict string
}

type options struct {
	Only    string
	MD      string
	Readme  string
	Verbose bool
	All     bool
}

func main() {
	var o options
	flag.StringVar(&o.Only, "only", "", "run only the jobs whose `REGEX` matches PACKAGE/Benchmark (e.g. 'edits|generator')")
	flag.StringVar(&o.MD, "md", "", "also write the table as Markdown to `FILE`")
	flag.StringVar(&o.Readme, "readme", "", "replace the text between <!-- bench:start --> and <!-- bench:end --> in `FILE` with the Markdown table")
	flag.BoolVar(&o.Verbose, "v", false, "stream the benchmarks' own output to stderr")
	flag.BoolVar(&o.All, "all", false, "show every figure, ns/op, B/op and allocs/op included")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "benchtable: unexpected arguments %q; see -h\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, o, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %v\n", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) (int, error) {
	var only *regexp.Regexp
	if o.Only != "" {
		var err error
		if only, err = regexp.Compile(o.Only); err != nil {
			return 2, fmt.Errorf("-only %q: %w", o.Only, err)
		}
	}
	root, err := repoRoot()
	if err != nil {
		return 1, err
	}
	bin, err := os.MkdirTemp("", "benchtable-")
	if err != nil {
		return 1, fmt.Errorf("create a directory for test binaries: %w", err)
	}
	defer os.RemoveAll(bin)

	r := &runner{root: root, bin: bin, built: map[string]error{}, stderr: stderr, verbose: o.Verbose}
	var rows []row
	var failures []string
	var notes []string
	started := time.Now()
	for _, j := range jobs {
		if only != nil && !only.MatchString(j.name()) {
			continue
		}
		if ctx.Err() != nil {
			return 130, errors.New("interrupted")
		}
		figs, missingPkg, err := r.run(ctx, j)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", j.name(), err))
		}
		rows = append(rows, tableRows(j, figs, missingPkg, err != nil, o.All)...)
		if j.Note != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", j.name(), j.Note))
		}
	}
	if len(rows) == 0 {
		return 2, fmt.Errorf("-only %q matches no job; jobs are: %s", o.Only, jobNames())
	}
	fmt.Fprintf(stderr, "benchtable: done in %s\n", time.Since(started).Round(time.Second))
	writeText(stdout, rows)
	short := shortRows(rows)
	if len(short) > 0 {
		fmt.Fprintf(stdout, "\n%d figure(s) fall short of their goals:\n", len(short))
		for _, r := range short {
			fmt.Fprintf(stdout, "  %s: %s, goal %s (%s)\n", r.Name, r.Figure, r.Goal, r.Verdict)
		}
	} else {
		fmt.Fprintln(stdout, "\nevery figure with a goal meets it")
	}

	if o.MD != "" || o.Readme != "" {
		md := markdown(rows, notes, o)
		if o.MD != "" {
			if err := os.MkdirAll(filepath.Dir(o.MD), 0o755); err != nil {
				return 1, fmt.Errorf("write %s: %w", o.MD, err)
			}
			if err := os.WriteFile(o.MD, []byte(md), 0o644); err != nil {
				return 1, fmt.Errorf("write %s: %w", o.MD, err)
			}
		}
		if o.Readme != "" {
			if err := replaceBetweenMarkers(o.Readme, md); err != nil {
				return 1, err
			}
		}
	}
	if len(failures) > 0 {
		return 1, fmt.Errorf("%d job(s) failed to run:\n  %s", len(failures), strings.Join(failures, "\n  "))
	}
	if len(short) > 0 {
		return 1, fmt.Errorf("%d figure(s) fall short of their goals", len(short))
	}
	return 0, nil
}

// shortRows returns the rows whose figure misses its goal or is missing.
func shortRows(rows []row) []row {
	var out []row
	for _, r := range rows {
		if r.Verdict == "short" || strings.HasPrefix(r.Verdict, "missing") {
			out = append(out, r)
		}
	}
	return out
}

func jobNames() string {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.name()
	}
	return strings.Join(names, ", ")
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run benchtable inside the repository (make bench)")
		}
		dir = parent
	}
}

type runner struct {
	root, bin string
	built     map[string]error
	stderr    io.Writer
	verbose   bool
}

// build compiles pkg's test binary once; it reports whether the package exists.
func (r *runner) build(ctx context.Context, pkg string) (string, bool, error) {
	exe := filepath.Join(r.bin, strings.ReplaceAll(pkg, "/", "_")+".test")
	if _, err := os.Stat(filepath.Join(r.root, pkg)); errors.Is(err, os.ErrNotExist) {
		return exe, false, nil
	}
	if err, ok := r.built[pkg]; ok {
		return exe, true, err
	}
	fmt.Fprintf(r.stderr, "benchtable: building %s tests\n", pkg)
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", exe, "./"+pkg)
	cmd.Dir = r.root
	out, err := cmd.CombinedOutput()
	if err == nil {
		if _, statErr := os.Stat(exe); statErr != nil {
			err = fmt.Errorf("go test -c wrote no binary (no test files in %s?)", pkg)
		}
	} else {
		err = fmt.Errorf("go test -c ./%s: %v\n%s", pkg, err, out)
	}
	r.built[pkg] = err
	return exe, true, err
}

// run runs one job and returns its figures; missingPkg is set when the package does not exist yet.
func (r *runner) run(ctx context.Context, j job) (figs []figure, missingPkg bool, err error) {
	exe, exists, err := r.build(ctx, j.Pkg)
	if !exists {
		fmt.Fprintf(r.stderr, "benchtable: %s: no package %s yet\n", j.name(), j.Pkg)
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	timeout := j.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	args := []string{"-test.v", "-test.count=1", "-test.timeout=" + timeout.String()}
	if j.Test != "" {
		args = append(args, "-test.run="+j.Test)
	} else {
		args = append(args, "-test.run=^$", "-test.bench="+j.Bench)
		if j.Benchtime != "" {
			args = append(args, "-test.benchtime="+j.Benchtime)
		}
		if j.CPU != "" {
			args = append(args, "-test.cpu="+j.CPU)
		}
	}
	fmt.Fprintf(r.stderr, "benchtable: %s: %s %s\n", j.name(), filepath.Base(exe), strings.Join(args, " "))
	start := time.Now()
	// the child gets timeout plus a margin to report its own timeout first
	cctx, cancel := context.WithTimeout(ctx, timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, args...)
	cmd.Dir = filepath.Join(r.root, j.Pkg)
	// SIGINT lets a test binary's TestMain stop the servers it started (vectors' Chroma)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if r.verbose {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, r.stderr), io.MultiWriter(&errOut, r.stderr)
	}
	runErr := cmd.Run()
	if j.Test != "" {
		figs = parseLogs(out.String(), j.Logs)
	} else {
		figs = parseBench(out.String())
	}
	fmt.Fprintf(r.stderr, "benchtable: %s: %d figure(s) in %s\n", j.name(), len(figs), time.Since(start).Round(100*time.Millisecond))
	if runErr != nil {
		return figs, false, fmt.Errorf("%s %s in %s: %v\n%s", filepath.Base(exe), strings.Join(args, " "), j.Pkg, runErr, tail(out.String()+errOut.String(), 40))
	}
	return figs, false, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var (
	benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+(.+)$`)
	procs     = regexp.MustCompile(`-\d+$`)
	// a t.Log line as go test -v prints it: indented, file:line: message
	logLine = regexp.MustCompile(`^\s+\S+_test\.go:\d+: (.*)$`)
)

// parseBench reads `go test -bench` result lines: name, iterations, then value-unit pairs. The
// -GOMAXPROCS suffix is dropped from names.
func parseBench(out string) []figure {
	var figs []figure
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		name := procs.ReplaceAllString(m[1], "")
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			figs = append(figs, figure{Name: name, Unit: f[i+1], Value: v})
		}
	}
	return figs
}

// parseLogs finds each logFigure in a test's log lines; the first match wins.
func parseLogs(out string, want []logFigure) []figure {
	var figs []figure
	found := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		m := logLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, w := range want {
			if found[w.Name] {
				continue
			}
			if s := w.Re.FindStringSubmatch(m[1]); s != nil {
				if v, err := strconv.ParseFloat(s[1], 64); err == nil {
					figs = append(figs, figure{Name: w.Name, Unit: w.Unit, Value: v})
					found[w.Name] = true
				}
			}
		}
	}
	return figs
}

// tableRows turns a job's figures into rows: every figure with its goal if it has one, then a
// "missing" row for each goal no figure met. ns/op, B/op and allocs/op are left out (unless all) when
// a benchmark reports figures of its own.
func tableRows(j job, figs []figure, missingPkg, failed, all bool) []row {
	// a benchmark that reports a rate of its own says more with it than with ns/op
	rate := map[string]bool{}
	for _, f := range figs {
		if !standardUnit(f.Unit) && strings.HasSuffix(f.Unit, "/s") {
			rate[f.Name] = true
		}
	}
	var rows []row
	matched := make([]bool, len(j.Goals))
	for _, f := range figs {
		var g *goal
		for i := range j.Goals {
			if j.Goals[i].matches(f) {
				g, matched[i] = &j.Goals[i], true
				break
			}
		}
		if g == nil && !all && (f.Unit == "B/op" || f.Unit == "allocs/op" || (f.Unit == "ns/op" && rate[f.Name])) {
			continue
		}
		r := row{Name: j.Pkg + " " + f.Name, Figure: formatFigure(f)}
		if g != nil {
			r.Goal = g.String() + " " + g.Unit
			r.Verdict = "short"
			if g.met(f.Value) {
				r.Verdict = "pass"
			}
		}
		rows = append(rows, r)
	}
	for i, g := range j.Goals {
		if matched[i] {
			continue
		}
		why := "missing"
		switch {
		case missingPkg:
			why = "missing (no package " + j.Pkg + ")"
		case failed:
			why = "missing (run failed)"
		}
		rows = append(rows, row{Name: j.Pkg + " " + g.Name, Figure: "-", Goal: g.String() + " " + g.Unit, Verdict: why})
	}
	if len(rows) == 0 && len(j.Goals) == 0 {
		why := "missing"
		if missingPkg {
			why = "missing (no package " + j.Pkg + ")"
		} else if failed {
			why = "missing (run failed)"
		}
		rows = append(rows, row{Name: j.name(), Figure: "-", Goal: "-", Verdict: why})
	}
	return rows
}

func standardUnit(u string) bool {
	return u == "ns/op" || u == "B/op" || u == "allocs/op" || u == "MB/s"
}

// formatFigure prints a figure with its unit; ns/op as a duration per op.
func formatFigure(f figure) string {
	if f.Unit == "ns/op" {
		d := time.Duration(f.Value)
		switch {
		case d >= 100*time.Millisecond:
			d = d.Round(10 * time.Millisecond)
		case d >= 100*time.Microsecond:
			d = d.Round(10 * time.Microsecond)
		case d >= 100:
			d = d.Round(10)
		}
		return d.String() + "/op"
	}
	return formatValue(f.Value) + " " + f.Unit
}

// formatValue prints large figures with thousands separators and small ones with enough digits.
func formatValue(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a >= 1000:
		return thousands(strconv.FormatFloat(v, 'f', 0, 64))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 0.01 || a == 0:
		return strconv.FormatFloat(v, 'f', 3, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func thousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

var header = row{Name: "name", Figure: "figure", Goal: "goal", Verdict: "pass/short"}

// writeText prints the rows as an aligned table.
func writeText(w io.Writer, rows []row) {
	width := [4]int{}
	all := append([]row{header}, rows...)
	for _, r := range all {
		for i, c := range r.cells() {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for k, r := range all {
		cells := r.cells()
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(w, " | ")
			}
			if i == len(cells)-1 {
				fmt.Fprint(w, c)
			} else {
				fmt.Fprint(w, c+strings.Repeat(" ", width[i]-len([]rune(c))))
			}
		}
		fmt.Fprintln(w)
		if k == 0 {
			fmt.Fprintln(w, strings.Repeat("-", width[0]+width[1]+width[2]+width[3]+9))
		}
	}
}

func (r row) cells() []string {
	goal, verdict := r.Goal, r.Verdict
	if goal == "" {
		goal = "-"
	}
	return []string{r.Name, r.Figure, goal, verdict}
}

// markdown renders the rows as the README's Performance table, with the command, machine and notes.
func markdown(rows []row, notes []string, o options) string {
	var b strings.Builder
	cmd := "go run ./cmd/benchtable"
	if o.Only != "" {
		cmd += " -only '" + o.Only + "'"
	}
	fmt.Fprintf(&b, "Measured %s with `%s` (`make bench`) on %s/%s, %d CPUs, %s.\n\n",
		time.Now().UTC().Format("2006-01-02"), cmd, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	b.WriteString("| name | figure | goal | pass/short |\n|---|---:|---|---|\n")
	esc := strings.NewReplacer("|", `\|`)
	for _, r := range rows {
		c := r.cells()
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", esc.Replace(c[0]), esc.Replace(c[1]), esc.Replace(c[2]), c[3])
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

const (
	startMarker = "<!-- bench:start -->"
	endMarker   = "<!-- bench:end -->"
)

// replaceBetweenMarkers puts md between the bench markers of file, which must hold both, in order.
func replaceBetweenMarkers(file, md string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	s := string(data)
	i := strings.Index(s, startMarker)
	k := strings.Index(s, endMarker)
	if i < 0 || k < i {
		return fmt.Errorf("%s has no %s ... %s pair: add both lines where the table goes", file, startMarker, endMarker)
	}
	out := s[:i+len(startMarker)] + "\n" + md + s[k:]
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}
