package trainer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/correctly/correctly/corpus"
)

// helperPush is what a client process given to TestHelperProcessPush does.
type helperPush struct {
	Opts                  DialOptions
	Bundle, RemoteDir, ID string
	Target                Endpoint
	RunFile               string // the run is saved here (the store stand-in) and read back from here
}

// TestHelperProcessPush is not a test: TestJobSurvivesAKilledClient runs the test binary as a push
// client through it, then kills it with SIGKILL.
func TestHelperProcessPush(t *testing.T) {
	spec := os.Getenv("CORRECTLY_TRAINER_HELPER")
	if spec == "" {
		return
	}
	var h helperPush
	if err := json.Unmarshal([]byte(spec), &h); err != nil {
		t.Fatal(err)
	}
	o := PushOptions{Bundle: h.Bundle, Target: h.Target, RemoteDir: h.RemoteDir, RunID: h.ID}
	if b, err := os.ReadFile(h.RunFile); err == nil {
		o.Run = &corpus.TrainRun{}
		if err := json.Unmarshal(b, o.Run); err != nil {
			t.Fatal(err)
		}
	}
	c := &Client{Dial: h.Opts, Heartbeat: time.Second, Save: func(_ context.Context, r *corpus.TrainRun) error {
		b, _ := json.Marshal(r)
		tmp := h.RunFile + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return err
		}
		return os.Rename(tmp, h.RunFile)
	}}
	res, err := c.Push(context.Background(), o)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Printf("launched %v\n", res.Launched)
	time.Sleep(time.Hour) // wait to be killed
}

func TestJobSurvivesAKilledClient(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	r := startRelay(t, b.Port)
	r.SetRate(4 << 20) // slow enough to be killed mid-upload
	b.trustOn(t, r.Port)
	bundle, _ := writeTestBundle(t, fakeSpec{Wait: 60}, 8<<20, nil)
	h := helperPush{
		Opts:   b.dialOptions(r.Port),
		Bundle: bundle, Target: b.endpoint(r.Port), RemoteDir: t.TempDir(), ID: "killed-client",
		RunFile: filepath.Join(t.TempDir(), "run.json"),
	}
	spec, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	start := func() (*exec.Cmd, *bufio.Scanner) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessPush$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CORRECTLY_TRAINER_HELPER="+string(spec))
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, bufio.NewScanner(out)
	}

	// first client: killed in the middle of the upload
	cmd, _ := start()
	part := filepath.Join(h.RemoteDir, "killed-client", "data", "blob.bin.part")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if fi, err := os.Stat(part); err == nil && fi.Size() > 2<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first client never got 2 MiB onto the box")
		}
	}
	cmd.Process.Kill()
	cmd.Wait()

	// second client: resumes from the saved run, launches, and is killed too
	r.SetRate(0)
	cmd, out := start()
	var line string
	for out.Scan() {
		if line = out.Text(); strings.HasPrefix(line, "launched") || strings.HasPrefix(line, "error") {
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if line != "launched true" {
		t.Fatalf("second client said %q, want a launch", line)
	}

	var run corpus.TrainRun
	b2, _ := os.ReadFile(h.RunFile)
	if err := json.Unmarshal(b2, &run); err != nil || run.Phase != "launched" {
		t.Fatalf("saved run = %+v, %v; want phase launched", run, err)
	}
	c, _ := testClient(t, b)
	run.Port = b.Port
	waitState(t, c, &run, is(StateRunning))
	os.WriteFile(filepath.Join(runDirOnBox(&run), "state", "finish"), nil, 0o644)
	if st := waitState(t, c, &run, func(s Status) bool { return s.Terminal() }); st.State != StateSucceeded {
		t.Errorf("status after both clients died and the job finished = %v, want SUCCEEDED", st)
	}
	assertSameFile(t, filepath.Join(bundle, "data", "blob.bin"), filepath.Join(runDirOnBox(&run), "data", "blob.bin"))
}
