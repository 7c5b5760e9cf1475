package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/generator"
	"github.com/correctly/correctly/llmtest"
)

func openStore(tb testing.TB, data string) *corpus.Store {
	tb.Helper()
	st, err := corpus.Open(context.Background(), corpus.Options{DataDir: data, Log: zerolog.Nop()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// sentTwice lists the custom_ids the server received more than once, besides those in allowed.
func sentTwice(c llmtest.BatchCounts) []string {
	var out []string
	for id, n := range c.Sends {
		if n > 1 {
			out = append(out, id)
		}
	}
	return out
}

func TestBatchRunChainsStepsResendsOnlyFailedLinesAtHalfPrice(t *testing.T) {
	bin := buildBinary(t)
	srv := llmtest.New()
	defer srv.Close()
	srv.BatchDelay = 200 * time.Millisecond
	srv.BatchFail, srv.BatchExpire = 3, 2
	data := t.TempDir()
	env := cliEnv(data, srv.BaseURL())
	gen := exec.Command(bin, "generate", "-n", "20", "--seed", "5", "--batch", "--batch-poll", "100ms", "--model", "gpt-4o-mini", "--json")
	gen.Env = env
	var stderr bytes.Buffer
	gen.Stderr = &stderr
	out, err := gen.Output()
	if err != nil {
		t.Fatalf("generate --batch: %v\n%s\n%s", err, out, stderr.String())
	}
	var stats generator.Stats
	if err := json.Unmarshal(out, &stats); err != nil {
		t.Fatalf("summary: %v\n%s", err, out)
	}
	st := openStore(t, data)
	checkRun(t, st, stats.RunID, 20)
	c := srv.BatchCounts()
	if srv.Counts().Requests != 0 {
		t.Errorf("%d online chat requests were made; want every request through the Batch API", srv.Counts().Requests)
	}
	// the failed and expired lines, and only those, went out twice
	if twice := sentTwice(c); len(twice) != 5 {
		t.Errorf("%d lines were sent more than once (%v); want exactly the 3 failed and 2 expired", len(twice), twice)
	}
	if c.Lines != c.Answered+5 {
		t.Errorf("server got %d lines and answered %d; want answered + the 5 that failed", c.Lines, c.Answered)
	}
	// two steps: the second step's batch is built from the first step's answers
	batches, err := st.RunBatches(context.Background(), stats.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) < 2 {
		t.Errorf("%d batches for a two-step schema; want at least one per step", len(batches))
	}
	// priced at half the online rate of gpt-4o-mini
	online, _ := generator.PriceOf("gpt-4o-mini")
	want := online.Cost(stats.Usage.PromptTokens, stats.Usage.CompletionTokens) / 2
	if stats.Cost <= 0 || math.Abs(stats.Cost-want) > 1e-9 {
		t.Errorf("cost = %.6f, want half the online price %.6f", stats.Cost, want)
	}
}

func TestBatchKilledWhilePendingResumesWithoutSendingAgain(t *testing.T) {
	bin := buildBinary(t)
	srv := llmtest.New()
	defer srv.Close()
	srv.BatchDelay = 2 * time.Second
	data := t.TempDir()
	env := cliEnv(data, srv.BaseURL())
	gen := exec.Command(bin, "generate", "-n", "15", "--seed", "7", "--batch", "--batch-poll", "100ms")
	gen.Env = env
	var stderr bytes.Buffer
	gen.Stderr = &stderr
	if err := gen.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for srv.BatchCounts().Batches < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := gen.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = gen.Wait()
	if n := srv.BatchCounts().Batches; n != 1 {
		t.Fatalf("%d batches when killed, want 1 pending; stderr:\n%s", n, stderr.String())
	}
	runID := latestRun(t, bin, env)
	res := exec.Command(bin, "generate", "--resume", runID, "--batch-poll", "100ms")
	res.Env = env
	out, err := res.CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	st := openStore(t, data)
	checkRun(t, st, runID, 15)
	c := srv.BatchCounts()
	if twice := sentTwice(c); len(twice) > 0 {
		t.Errorf("lines sent twice after the resume: %v; want the pending batch polled, not made again", twice)
	}
	if c.Uploads != c.Batches {
		t.Errorf("%d files uploaded for %d batches", c.Uploads, c.Batches)
	}
}

func TestBatchNoWaitReturnsAndResumeCollects(t *testing.T) {
	bin := buildBinary(t)
	srv := llmtest.New()
	defer srv.Close()
	srv.BatchDelay = 500 * time.Millisecond
	data := t.TempDir()
	env := cliEnv(data, srv.BaseURL())
	gen := exec.Command(bin, "generate", "-n", "10", "--seed", "9", "--batch", "--no-wait", "--batch-poll", "100ms")
	gen.Env = env
	out, err := gen.CombinedOutput()
	if err != nil {
		t.Fatalf("generate --no-wait: %v\n%s", err, out)
	}
	runID := latestRun(t, bin, env)
	if !strings.Contains(string(out), "correctly generate --resume "+runID) {
		t.Errorf("--no-wait output does not say how to collect:\n%s", out)
	}
	if srv.BatchCounts().Answered != 0 {
		t.Fatal("the batch ended before --no-wait returned; the test proves nothing")
	}
	show := exec.Command(bin, "runs", "show", runID)
	show.Env = env
	if so, err := show.CombinedOutput(); err != nil || !strings.Contains(string(so), "batch_1") {
		t.Errorf("runs show does not list the batch: %v\n%s", err, so)
	}
	res := exec.Command(bin, "generate", "--resume", runID, "--batch-poll", "100ms")
	res.Env = env
	if out, err := res.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	checkRun(t, openStore(t, data), runID, 10)
	if twice := sentTwice(srv.BatchCounts()); len(twice) > 0 {
		t.Errorf("lines sent twice: %v", twice)
	}
}

func TestBatchAgainstServerWithoutBatchAPI(t *testing.T) {
	bin := buildBinary(t)
	srv := llmtest.New()
	defer srv.Close()
	srv.NoBatchAPI = true
	data := t.TempDir()
	gen := exec.Command(bin, "generate", "-n", "3", "--batch")
	gen.Env = cliEnv(data, srv.BaseURL())
	out, err := gen.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "this server has no Batch API: run without --batch") {
		t.Errorf("generate --batch against a server without a Batch API: %v\n%s", err, out)
	}
}

func TestBatchDryRunEstimatesAtHalfPrice(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	cost := func(extra ...string) float64 {
		t.Helper()
		args := append([]string{"generate", "-n", "100", "--seed", "1", "--model", "gpt-4o-mini", "--dry-run", "--json"}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Env = cliEnv(data, "http://127.0.0.1:1/v1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var v struct {
			Cost float64 `json:"est_cost_usd"`
		}
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatal(err)
		}
		return v.Cost
	}
	online, batch := cost(), cost("--batch")
	if online <= 0 || math.Abs(batch-online/2) > 1e-9 {
		t.Errorf("dry-run estimate with --batch = %.6f, want half of %.6f", batch, online)
	}
}

func TestBatchErrorsSayWhatToDo(t *testing.T) {
	bin := buildBinary(t)
	t.Run("another key cannot see the batch", func(t *testing.T) {
		srv := llmtest.New()
		defer srv.Close()
		srv.BatchDelay = time.Minute
		data := t.TempDir()
		env := cliEnv(data, srv.BaseURL())
		gen := exec.Command(bin, "generate", "-n", "3", "--batch", "--no-wait")
		gen.Env = env
		if out, err := gen.CombinedOutput(); err != nil {
			t.Fatalf("generate --no-wait: %v\n%s", err, out)
		}
		runID := latestRun(t, bin, env)
		res := exec.Command(bin, "generate", "--resume", runID, "--batch-poll", "100ms")
		res.Env = append(env, "OPENAI_API_KEY=sk-another-project")
		out, err := res.CombinedOutput()
		want := "key of fingerprint " + generator.KeyFingerprint("sk-test")
		if err == nil || !strings.Contains(string(out), "no such batch") || !strings.Contains(string(out), want) || strings.Contains(string(out), "sk-test") {
			t.Errorf("resume with another key: %v\n%s\nwant `no such batch` and %q, never the key", err, out, want)
		}
	})
	t.Run("a batch that fails validation shows the provider's lines", func(t *testing.T) {
		srv := llmtest.New()
		defer srv.Close()
		srv.BatchInvalid = true
		gen := exec.Command(bin, "generate", "-n", "3", "--batch", "--batch-poll", "100ms")
		gen.Env = cliEnv(t.TempDir(), srv.BaseURL())
		out, err := gen.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "failed validation: line 1: This line is not parseable as valid JSON.") {
			t.Errorf("generate against a batch that fails validation: %v\n%s", err, out)
		}
	})
}

func TestBatchInterruptLeavesBatchesAndCancelSendsThemAgainOnResume(t *testing.T) {
	bin := buildBinary(t)
	srv := llmtest.New()
	defer srv.Close()
	srv.BatchDelay = time.Hour
	data := t.TempDir()
	env := cliEnv(data, srv.BaseURL())
	gen := exec.Command(bin, "generate", "-n", "4", "--seed", "2", "--batch", "--batch-poll", "100ms")
	gen.Env = env
	var stderr, stdout bytes.Buffer
	gen.Stderr, gen.Stdout = &stderr, &stdout
	if err := gen.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for srv.BatchCounts().Batches < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_ = gen.Process.Signal(syscall.SIGINT)
	err := gen.Wait()
	out := stdout.String() + stderr.String()
	if err == nil || !strings.Contains(out, "batches keep running") || !strings.Contains(out, "correctly runs cancel") {
		t.Fatalf("Ctrl-C while a batch is out: %v\n%s", err, out)
	}
	if c := srv.BatchCounts(); c.Cancelled != 0 {
		t.Errorf("Ctrl-C cancelled %d batches; want them left running", c.Cancelled)
	}
	runID := latestRun(t, bin, env)
	cancel := exec.Command(bin, "runs", "cancel", runID)
	cancel.Env = env
	if out, err := cancel.CombinedOutput(); err != nil || !strings.Contains(string(out), "cancelled 1 batches") {
		t.Fatalf("runs cancel: %v\n%s", err, out)
	}
	if c := srv.BatchCounts(); c.Cancelled != 1 {
		t.Errorf("provider saw %d cancels, want 1", c.Cancelled)
	}
	// the cancelled lines came back without answers: a resume sends them again and finishes
	srv.BatchDelay = 100 * time.Millisecond
	res := exec.Command(bin, "generate", "--resume", runID, "--batch-poll", "100ms")
	res.Env = env
	if out, err := res.CombinedOutput(); err != nil {
		t.Fatalf("resume after cancel: %v\n%s", err, out)
	}
	checkRun(t, openStore(t, data), runID, 4)
}

func TestBatchMaxCostIsCheckedBeforeSubmitting(t *testing.T) {
	bin := buildBinary(t)
	srv := llmtest.New()
	defer srv.Close()
	gen := exec.Command(bin, "generate", "-n", "50", "--batch", "--model", "gpt-4o-mini", "--max-cost", "0.0005")
	gen.Env = cliEnv(t.TempDir(), srv.BaseURL())
	out, err := gen.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "would take the run past its $0.00 cap") {
		t.Errorf("a first batch estimated above --max-cost: %v\n%s", err, out)
	}
	if c := srv.BatchCounts(); c.Batches != 0 || c.Uploads != 0 {
		t.Errorf("%d batches and %d uploads made; want none over the cap", c.Batches, c.Uploads)
	}
}
