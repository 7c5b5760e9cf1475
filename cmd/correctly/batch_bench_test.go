package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/correctly/correctly/llmtest"
)

// BenchmarkBatch makes 10,000 records (CORRECTLY_BATCH_N) of the two-step default schema through
// --batch against the fake Batch API with batches that take 3 s, three rounds, and reports the
// medians (and spread) of the tool's own CPU time and peak memory per record, and the request lines
// sent beyond one per answer needed (goal 0 for answered lines).
func BenchmarkBatch(b *testing.B) {
	bin := buildBinary(b)
	n := 10000
	if v := os.Getenv("CORRECTLY_BATCH_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	var walls, cpus, mems, extras, resent []float64
	for round := 0; round < 3; round++ {
		srv := llmtest.New()
		srv.BatchDelay = 3 * time.Second
		data := b.TempDir()
		cmd := exec.Command(bin, "generate", "-n", fmt.Sprint(n), "--seed", fmt.Sprint(round+1), "--batch", "--batch-poll", "500ms")
		cmd.Env = cliEnv(data, srv.BaseURL())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if path := os.Getenv("CORRECTLY_BENCH_LOG"); path != "" { // the tool's log, to see where time goes
			f, err := os.Create(fmt.Sprintf("%s.%d", path, round+1))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			cmd.Stderr = f
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
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
			case <-time.After(5 * time.Millisecond):
				peakKB = max(peakKB, vmHWM(status))
			}
		}
		wall := time.Since(start).Seconds()
		if err != nil {
			b.Fatalf("generate --batch: %v\n%s", err, stderr.String())
		}
		cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
		c := srv.BatchCounts()
		srv.Close()
		again := 0
		for _, k := range c.Sends {
			again += k - 1
		}
		walls = append(walls, wall)
		cpus = append(cpus, cpu*1000/float64(n))
		mems = append(mems, peakKB/1024)
		extras = append(extras, float64(c.Lines-c.Answered))
		resent = append(resent, float64(again))
		b.Logf("round %d: %d records in %.1fs wall, %.2f ms CPU/record, peak %.0f MB, %d lines for %d answers, %d batches, %d lines sent again",
			round+1, n, wall, cpu*1000/float64(n), peakKB/1024, c.Lines, c.Answered, c.Batches, again)
	}
	med := func(v []float64) (float64, float64) {
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		return s[len(s)/2], s[len(s)-1] - s[0]
	}
	w, ws := med(walls)
	c, cs := med(cpus)
	m, ms := med(mems)
	e, _ := med(extras)
	r, _ := med(resent)
	b.ReportMetric(w, "wall_s")
	b.ReportMetric(c, "cpu_ms/record")
	b.ReportMetric(m*1024/float64(n), "peak_KB/record")
	b.ReportMetric(e, "lines_beyond_answers")
	b.ReportMetric(r, "answered_lines_sent_again")
	b.Logf("median of 3: wall %.1fs (spread %.1fs), CPU %.2f ms/record (spread %.2f), peak %.0f MB (spread %.0f) = %.1f KB/record, lines beyond answers %.0f, lines sent again %.0f",
		w, ws, c, cs, m, ms, m*1024/float64(n), e, r)
}
