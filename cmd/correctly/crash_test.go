package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/corpus/corpustest"
	"github.com/correctly/correctly/llmtest"
	"github.com/correctly/correctly/vectors"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds the correctly binary once per test run.
func buildBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "correctly-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "correctly")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

func cliEnv(dataDir, baseURL string, extra ...string) []string {
	env := append(os.Environ(),
		"CORRECTLY_DATA_DIR="+dataDir, "OPENAI_BASE_URL="+baseURL, "OPENAI_API_KEY=sk-test",
		"XDG_CONFIG_HOME="+filepath.Join(dataDir, "config"), "MONGODB_URI=", "CHROMA_URL=")
	return append(env, extra...)
}

func latestRun(tb testing.TB, bin string, env []string) string {
	tb.Helper()
	cmd := exec.Command(bin, "runs", "list", "--json")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("runs list: %v", err)
	}
	var runs []corpus.Run
	if err := json.Unmarshal(out, &runs); err != nil || len(runs) == 0 {
		tb.Fatalf("runs list: %v (%s)", err, out)
	}
	return runs[0].ID
}

// checkRun asserts a finished run has exactly n accepted records, no claim left on a finished slot,
// and no step of a slot answered twice.
func checkRun(tb testing.TB, st *corpus.Store, runID string, n int) {
	tb.Helper()
	ctx := context.Background()
	recs, err := st.RecordOutcomes(ctx, runID)
	if err != nil {
		tb.Fatal(err)
	}
	claims, err := st.RunClaims(ctx, runID)
	if err != nil {
		tb.Fatal(err)
	}
	done := map[int]bool{}
	accepted := 0
	for _, r := range recs {
		done[r.Slot] = true
		if r.Status == corpus.StatusAccepted {
			accepted++
		}
	}
	// a slot's claim goes once its outcome is written: none is left for a finished slot
	for _, c := range claims {
		if done[c.Slot] {
			tb.Errorf("slot %d has an outcome and still a claim (%s)", c.Slot, c.ID)
		}
	}
	if accepted != n {
		tb.Errorf("accepted = %d, want exactly %d", accepted, n)
	}
	steps, err := st.RunSteps(ctx, runID)
	if err != nil {
		tb.Fatal(err)
	}
	type key struct {
		slot int
		step string
	}
	answered := map[key]int{}
	for _, s := range steps {
		if s.ParseError == "" {
			answered[key{s.Slot, s.Step}]++
		}
	}
	for k, c := range answered {
		if c > 1 {
			tb.Errorf("slot %d step %s was answered %d times: a stored step was asked again", k.slot, k.step, c)
		}
	}
}

func TestKilledRunResumesExactly(t *testing.T) {
	bin := buildBinary(t)
	srv := llmtest.New()
	defer srv.Close()
	srv.Latency = 40 * time.Millisecond
	data := t.TempDir()
	env := cliEnv(data, srv.BaseURL())

	gen := exec.Command(bin, "generate", "-n", "30", "--seed", "11", "--concurrency", "6", "--max-concurrency", "6")
	gen.Env = env
	var stderr bytes.Buffer
	gen.Stderr = &stderr
	if err := gen.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for srv.Counts().Answered < 24 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := gen.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = gen.Wait()
	before := srv.Counts().Answered
	if before >= 60 {
		t.Fatalf("the run finished before it was killed (%d answers); stderr:\n%s", before, stderr.String())
	}

	runID := latestRun(t, bin, env)
	res := exec.Command(bin, "generate", "--resume", runID, "--json")
	res.Env = env
	out, err := res.CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	st, err := corpus.Open(context.Background(), corpus.Options{DataDir: data, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkRun(t, st, runID, 30)
	steps, _ := st.CountSteps(context.Background(), runID)
	// every answer the server gave was stored, except those in flight when the process died
	if lost := int64(srv.Counts().Answered) - steps; lost > 6 {
		t.Errorf("server answered %d requests but %d answers are stored: %d paid answers lost (at most the 6 in flight may be)", srv.Counts().Answered, steps, lost)
	}
}

// startChroma runs a real Chroma server through scripts/chroma.sh for one test.
func startChroma(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("../../scripts/chroma.sh", "start", dir, fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	tb.Cleanup(func() { _ = exec.Command("../../scripts/chroma.sh", "stop", dir).Run() })
	if err != nil {
		tb.Fatalf("scripts/chroma.sh start: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if u, ok := strings.CutPrefix(line, "CHROMA_URL="); ok {
			return strings.TrimSpace(u)
		}
	}
	tb.Fatalf("scripts/chroma.sh start printed no CHROMA_URL:\n%s", stdout.String())
	return ""
}

// TestTwoWorkersShareOneRun runs two worker processes on one run against a MongoDB-wire server and a
// Chroma server: no slot is worked twice, exactly N are accepted, and of the near-duplicates the
// fake LLM keeps writing, no pair is accepted by both workers.
func TestTwoWorkersShareOneRun(t *testing.T) {
	bin := buildBinary(t)
	chroma := startChroma(t)
	srv := llmtest.New()
	defer srv.Close()
	srv.Latency = 50 * time.Millisecond // the run lasts seconds, so the second worker joins in time
	srv.NearDuplicates = 0.3
	// a MongoDB wire-protocol server on a TCP port, as `MONGODB_URI` users have
	uri := corpustest.MongoURI(t)
	st, err := corpus.Open(context.Background(), corpus.Options{URI: uri, DB: "workers", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	data := t.TempDir()
	env := cliEnv(data, srv.BaseURL(), "MONGODB_URI="+uri, "CORRECTLY_DB=workers", "CHROMA_URL="+chroma)

	first := exec.Command(bin, "generate", "-n", "60", "--seed", "3", "--concurrency", "3", "--max-concurrency", "3")
	first.Env = env
	var out1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for srv.Counts().Answered < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	runID := latestRun(t, bin, env)
	second := exec.Command(bin, "generate", "--resume", runID, "--concurrency", "3", "--max-concurrency", "3")
	second.Env = env
	out2, err2 := second.CombinedOutput()
	err1 := first.Wait()
	if err1 != nil || err2 != nil {
		t.Fatalf("workers: %v / %v\n%s\n%s", err1, err2, out1.String(), out2)
	}
	checkRun(t, st, runID, 60)
	recs, err := st.Records(context.Background(), corpus.RecordQuery{RunIDs: []string{runID}})
	if err != nil {
		t.Fatal(err)
	}
	workers := map[string]bool{}
	steps := 0
	for _, r := range recs {
		workers[r.Worker] = true
		steps += len(r.Steps)
	}
	// every answer paid for is one step of one outcome: no slot was worked by both workers
	if got := srv.Counts().Requests; got != steps {
		t.Errorf("the LLM was asked %d times, but the outcomes hold %d answers: a slot was worked twice", got, steps)
	}
	if len(workers) != 2 {
		t.Errorf("records came from %d workers, want both workers to have worked", len(workers))
	}
	var texts, ids []string
	dups := 0
	for _, r := range recs {
		switch r.Status {
		case corpus.StatusAccepted:
			texts = append(texts, fieldText(r.Fields["before"]))
			ids = append(ids, r.ID)
		case corpus.StatusDuplicate:
			dups++
		}
	}
	if dups == 0 {
		t.Errorf("no duplicate was caught, though the LLM repeated itself %d%% of the time", 30)
	}
	vecs, _ := vectors.NewHash().Embed(context.Background(), texts)
	for i := range vecs {
		for j := i + 1; j < len(vecs); j++ {
			var dot float64
			for k := range vecs[i] {
				dot += float64(vecs[i][k]) * float64(vecs[j][k])
			}
			if 1-dot <= vectors.HashThreshold {
				t.Errorf("near-duplicates %s and %s were both accepted (distance %.3f)", ids[i], ids[j], 1-dot)
			}
		}
	}
}
