package vectors

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

func runScript(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("../scripts/chroma.sh", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("chroma.sh %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func TestChromaScriptStartIsIdempotentAndStopStops(t *testing.T) {
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p := fmt.Sprint(port)
	want := fmt.Sprintf("CHROMA_URL=http://127.0.0.1:%d\n", port)
	t.Cleanup(func() { runScript(t, "stop", dir) })

	out, err := runScript(t, "start", dir, p)
	if err != nil || out != want {
		t.Fatalf("start = %q, %v; want %q", out, err, want)
	}
	if out, err := runScript(t, "start", dir, p); err != nil || out != want {
		t.Errorf("second start = %q, %v; want the same URL", out, err)
	}
	if out, err := runScript(t, "status", dir, p); err != nil || out != want {
		t.Errorf("status = %q, %v; want %q", out, err, want)
	}
	c, err := OpenChroma(context.Background(), strings.TrimPrefix(strings.TrimSpace(want), "CHROMA_URL="))
	if err != nil {
		t.Fatalf("OpenChroma on the started server: %v", err)
	}
	c.Close()
	if _, err := runScript(t, "stop", dir); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := runScript(t, "status", dir, p); err == nil {
		t.Error("status after stop succeeded, want exit status 1")
	}
	if _, err := runScript(t, "stop", dir); err != nil {
		t.Errorf("stop of a stopped server: %v, want no error", err)
	}
	var exitErr *exec.ExitError
	if _, err := runScript(t, "bogus"); !errors.As(err, &exitErr) {
		t.Errorf("unknown command: %v, want a non-zero exit", err)
	}
}

func TestIndexRefusesUseAfterClose(t *testing.T) {
	for _, impl := range indexImpls {
		t.Run(impl.name, func(t *testing.T) {
			idx := impl.open(t)
			if err := idx.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			ctx := context.Background()
			if err := idx.Add(ctx, "c", []Item{{ID: "a", Vector: []float32{1}}}); !errors.Is(err, ErrClosed) {
				t.Errorf("Add after Close = %v, want ErrClosed", err)
			}
			if _, err := idx.Query(ctx, "c", [][]float32{{1}}, 1, nil); !errors.Is(err, ErrClosed) {
				t.Errorf("Query after Close = %v, want ErrClosed", err)
			}
			if _, err := idx.Count(ctx, "c"); !errors.Is(err, ErrClosed) {
				t.Errorf("Count after Close = %v, want ErrClosed", err)
			}
		})
	}
}
