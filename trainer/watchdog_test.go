package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/trainer/sshtest"
)

// The box stops itself: these tests push fake trainers to a real sshd whose PATH holds fake
// nvidia-smi, runpodctl and vastai, and check what watchdog.py does there with no client around.

// waitBox polls the run's status until the box's watchdog reports a state for which pred holds.
func waitBox(tb testing.TB, c *Client, run *corpus.TrainRun, pred func(*corpus.TrainBox) bool) Status {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := c.Status(context.Background(), run)
		if err == nil && st.Box != nil && pred(st.Box) {
			return st
		}
		if time.Now().After(deadline) {
			tb.Fatalf("status of %s: last %v, box %+v, %v; the wanted box state never came", run.ID, st, st.Box, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func boxState(state string) func(*corpus.TrainBox) bool {
	return func(b *corpus.TrainBox) bool { return b.State == state }
}

func logOf(tb testing.TB, c *Client, run *corpus.TrainRun) string {
	tb.Helper()
	var b bytes.Buffer
	if _, err := c.Logs(context.Background(), run, &b, LogOptions{}); err != nil {
		tb.Fatalf("Logs: %v", err)
	}
	return b.String()
}

func TestMaxDurationStopsTrainingAndKeepsTheCheckpoint(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{Wait: 120}, 0, nil)
	start := time.Now()
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "maxdur",
		Watch: WatchOptions{MaxDuration: 3 * time.Second}})
	if res.Run.Box == nil || res.Run.Box.Deadline.IsZero() || res.Run.Box.Deadline.Before(start) {
		t.Fatalf("pushed run's box = %+v, want a deadline from the launch", res.Run.Box)
	}
	st := waitState(t, c, res.Run, func(s Status) bool { return s.Terminal() })
	took := time.Since(start)
	if st.State != StateTimedOut || st.EndedBy != "max_duration" || !strings.Contains(st.Detail, "--max-duration 3s") {
		t.Fatalf("status after --max-duration 3s = %v (%+v), want TIMED_OUT naming the limit", st, st)
	}
	if took < 3*time.Second || took > 30*time.Second {
		t.Errorf("the job ended %s after the push, want shortly after its 3s limit", took)
	}
	if _, err := os.Stat(filepath.Join(runDirOnBox(res.Run), "output", "checkpoints", "checkpoint-1", "trainer_state.json")); err != nil {
		t.Errorf("the checkpoint is gone after --max-duration: %v", err)
	}
	if log := logOf(t, c, res.Run); !strings.Contains(log, "[watchdog]") || !strings.Contains(log, "max duration of 3s reached") {
		t.Errorf("log does not say the watchdog stopped the job:\n%s", log)
	}
	// the checkpoint comes back only when asked for: it is often bigger than the result
	plain, all := t.TempDir(), t.TempDir()
	if _, err := c.Pull(context.Background(), res.Run, plain, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(plain, "checkpoints")); err == nil {
		t.Errorf("pull without --checkpoints fetched output/checkpoints")
	}
	if _, err := c.Pull(context.Background(), res.Run, all, PullOptions{Checkpoints: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(all, "checkpoints", "checkpoint-1", "trainer_state.json")); err != nil {
		t.Errorf("pull --checkpoints did not fetch the checkpoint: %v", err)
	}
	if st := waitBox(t, c, res.Run, func(b *corpus.TrainBox) bool { return b.State != "running" }); st.Box.State != "left_running" {
		t.Errorf("box = %+v, want left_running (no --stop-box)", st.Box)
	}
}

func TestStallWatchdogEndsAJobWithoutProgressButNotOneThatPrints(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	watch := WatchOptions{StallTimeout: 2 * time.Second}

	// a trainer that prints one line then hangs, deaf to TERM: STALLED, then killed
	hung, _ := writeTestBundle(t, fakeSpec{Lines: 1, Wait: 120, IgnoreTerm: true}, 0, nil)
	res := push(t, c, PushOptions{Bundle: hung, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "stall-hung", Watch: watch})
	// a trainer that prints a line every 0.7s for 6s: never stalled
	busy, _ := writeTestBundle(t, fakeSpec{Lines: 9, LineSleep: 0.7}, 0, nil)
	res2 := push(t, c, PushOptions{Bundle: busy, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "stall-busy", Watch: watch})

	st := waitState(t, c, res.Run, func(s Status) bool { return s.Terminal() && s.ExitCode != nil })
	if st.State != StateStalled || st.EndedBy != "stalled" || *st.ExitCode != 137 {
		t.Fatalf("status of a hung trainer = %v (%+v), want STALLED, ended by the watchdog with exit 137 (killed after the grace)", st, st)
	}
	if !strings.Contains(st.Detail, "no log line and no progress for 2s") {
		t.Errorf("detail = %q, want the stall timeout named", st.Detail)
	}
	pids := readPIDs(t, runDirOnBox(res.Run))
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d of the stalled job still runs", pid)
		}
	}
	st2 := waitState(t, c, res2.Run, func(s Status) bool { return s.Terminal() })
	if st2.State != StateSucceeded {
		t.Errorf("status of a trainer printing every 0.7s under a 2s stall timeout = %v (%+v), want SUCCEEDED", st2, st2)
	}
}

// fakeRunpodctl records how it was called, and the pod id and API key it found.
const fakeRunpodctl = `echo "args=$*" >> "$(dirname "$0")/../runpodctl.calls"
echo "pod=$RUNPOD_POD_ID key=$RUNPOD_API_KEY" >> "$(dirname "$0")/../runpodctl.calls"
echo "pod \"$4\" stopped"
`

func TestStopBoxOnRunPodOnceTheOutputsArePulled(t *testing.T) {
	t.Parallel()
	b := startBox(t, sshtest.Env("RUNPOD_POD_ID", "pod-abc123"), sshtest.Env("RUNPOD_API_KEY", "rp-scoped-key"))
	b.Tool(t, "runpodctl", fakeRunpodctl)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{}, 0, nil)
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "runpod-1",
		Watch: WatchOptions{StopBox: true}})
	if res.Run.Box == nil || res.Run.Box.Stop != "runpod" || res.Run.Box.StopCommand != "runpodctl stop pod pod-abc123" {
		t.Fatalf("pushed run's box = %+v, want the RunPod stop plan", res.Run.Box)
	}
	if plan := BoxPlan(res.Run.Box, time.Now(), time.UTC); !strings.Contains(plan, "stops itself with runpodctl stop pod pod-abc123 once its outputs are pulled, or 1h after the job ends") ||
		!strings.Contains(plan, "never destroyed") {
		t.Errorf("plan = %q", plan)
	}
	st := waitBox(t, c, res.Run, boxState("waiting_for_pull"))
	if st.State != StateSucceeded {
		t.Fatalf("status = %v, want SUCCEEDED", st)
	}
	if d := time.Until(st.Box.StopAt); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("box stops at %s, in %s; want an hour after the end", st.Box.StopAt, d)
	}
	if plan := BoxPlan(st.Box, time.Now(), time.UTC); !strings.Contains(plan, "box stops at "+st.Box.StopAt.Format("15:04")+" unless pulled") {
		t.Errorf("plan while waiting = %q, want the time the box stops unless pulled", plan)
	}
	calls := filepath.Join(b.Dir, "runpodctl.calls")
	if _, err := os.Stat(calls); err == nil {
		t.Fatal("runpodctl ran before the outputs were pulled")
	}

	if _, err := c.Pull(context.Background(), res.Run, t.TempDir(), PullOptions{}); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	st = waitBox(t, c, res.Run, boxState("stop_requested"))
	got, _ := os.ReadFile(calls)
	if string(got) != "args=stop pod pod-abc123\npod=pod-abc123 key=rp-scoped-key\n" {
		t.Errorf("runpodctl calls = %q, want exactly one stop of the pod with its key", got)
	}
	if st.Box.StopReason != "pulled" || st.Box.StopExit == nil || *st.Box.StopExit != 0 || st.Box.StopRequestedAt.IsZero() {
		t.Errorf("box after pull = %+v, want stopped because pulled, exit 0", st.Box)
	}
	if plan := BoxPlan(st.Box, time.Now(), time.UTC); !strings.Contains(plan, "the box stopped itself at") || !strings.Contains(plan, "the outputs were pulled") {
		t.Errorf("plan after the stop = %q", plan)
	}
	if _, err := os.Stat(filepath.Join(runDirOnBox(res.Run), "output", "report.json")); err != nil {
		t.Errorf("the outputs are gone from the stopped box: %v (stopping must never destroy)", err)
	}
}

// fakeVastai records its arguments, its environment and the API key file it finds.
const fakeVastai = `d="$(dirname "$0")/.."
echo "args=$*" >> "$d/vastai.calls"
echo "keyfile=$(cat "${XDG_CONFIG_HOME:-$HOME/.config}/vastai/vast_api_key" 2>/dev/null)" >> "$d/vastai.calls"
env >> "$d/vastai.env"
exit "${FAKE_VASTAI_EXIT:-0}"
`

func TestStopBoxOnVastAfterTheGraceWhenNobodyPulls(t *testing.T) {
	t.Parallel()
	const key = "vast-instance-secret-key"
	b := startBox(t, sshtest.Env("CONTAINER_ID", "4242"), sshtest.Env("CONTAINER_API_KEY", key))
	b.Tool(t, "vastai", fakeVastai)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{Exit: 1}, 0, nil) // the job fails; the box must stop all the same
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "vast-1",
		Watch: WatchOptions{StopBox: true, StopGrace: 2 * time.Second}})
	if res.Run.Box.StopCommand != "vastai stop instance 4242" {
		t.Fatalf("stop plan = %+v, want vastai stop instance 4242", res.Run.Box)
	}
	st := waitBox(t, c, res.Run, boxState("stop_requested"))
	if st.State != StateFailed || st.Box.StopReason != "grace" {
		t.Errorf("status = %v, box %+v; want FAILED and a stop after the grace", st, st.Box)
	}
	got, _ := os.ReadFile(filepath.Join(b.Dir, "vastai.calls"))
	if string(got) != "args=stop instance 4242\nkeyfile="+key+"\n" {
		t.Errorf("vastai calls = %q, want one stop of instance 4242 with the instance's key in its key file", got)
	}
	env, _ := os.ReadFile(filepath.Join(b.Dir, "vastai.env"))
	if strings.Contains(string(env), key) {
		t.Errorf("the instance's API key is in vastai's environment; it must only be in its key file")
	}
	if strings.Contains(st.Box.StopOutput+st.Box.StopCommand, key) {
		t.Errorf("the API key shows in the box record: %+v", st.Box)
	}
}

func TestStopCommandRetriesAndReportsAFailure(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{}, 0, nil)
	marker := filepath.Join(b.Dir, "stop.calls")
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "cmd-1",
		Watch: WatchOptions{StopBox: true, StopGrace: time.Second, StopCommand: "echo called >> " + marker + "; echo 'no such pod'; exit 3"}})
	if res.Run.Box.Stop != "command" || strings.Contains(res.Run.Box.StopCommand, marker) {
		t.Errorf("box = %+v, want the command plan without the command's text (it may hold a secret)", res.Run.Box)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := os.ReadFile(marker)
		if strings.Count(string(got), "called") == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failing stop command ran %q, want 3 tries", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := waitBox(t, c, res.Run, func(b *corpus.TrainBox) bool { return b.State == "stop_failed" && b.StopAttempt == 3 })
	plan := BoxPlan(st.Box, time.Now(), time.UTC)
	if !strings.Contains(plan, "failed (exit 3: no such pod): stop it yourself, it is still billing") {
		t.Errorf("plan after a failed stop = %q", plan)
	}
}

func TestCheckStopCommandRefusesToDestroy(t *testing.T) {
	for _, cmd := range []string{"vastai destroy instance 1", "runpodctl remove pod x", "aws ec2 terminate-instances --instance-ids i-1", "rm -rf /"} {
		if err := CheckStopCommand(cmd); err == nil || !strings.Contains(err.Error(), "a stopped box keeps its disk") {
			t.Errorf("CheckStopCommand(%q) = %v, want a refusal", cmd, err)
		}
	}
	for _, cmd := range []string{"shutdown -h now", "vastai stop instance 1", "aws ec2 stop-instances --instance-ids i-1"} {
		if err := CheckStopCommand(cmd); err != nil {
			t.Errorf("CheckStopCommand(%q) = %v, want it accepted", cmd, err)
		}
	}
}

func TestPreflightRefusesABoxThatWouldWasteTheRent(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	plain, _ := writeTestBundle(t, fakeSpec{}, 0, nil)
	pinned, _ := writeTestBundle(t, fakeSpec{}, 0, map[string][]byte{"requirements.txt": []byte("# python: >=3.12,<3.13\n# nvidia-driver: >=525.60.13 (CUDA 12.4)\n")})
	for _, tc := range []struct {
		name   string
		setup  func()
		bundle string
		o      PushOptions
		want   string // "" accepts
	}{
		{"no GPU", func() { b.RemoveTool(t, "nvidia-smi") }, plain, PushOptions{}, "no GPU on the box (nvidia-smi is missing or lists none): rent a box with an NVIDIA GPU, or pass --allow-cpu"},
		{"no GPU with --allow-cpu", func() { b.RemoveTool(t, "nvidia-smi") }, plain, PushOptions{AllowCPU: true}, ""},
		{"driver too old", func() { b.GPU(t, "Tesla T4", 15360, "470.82.01") }, pinned, PushOptions{NoInstall: false}, "the NVIDIA driver on the box is 470.82.01; the pinned torch needs 525.60.13 or newer (CUDA 12.4)"},
		{"python outside the pins", nil, pinned, PushOptions{}, "the pinned packages in requirements.txt need python >=3.12,<3.13"},
		{"python outside the pins with --no-install", nil, pinned, PushOptions{NoInstall: true}, ""},
		{"model larger than the disk", nil, plain, PushOptions{ModelBytes: 1 << 50}, "model download 1048576.0 GiB"},
		{"--stop-box on an unknown provider", nil, plain, PushOptions{Watch: WatchOptions{StopBox: true}}, "pass --stop-command CMD"},
		{"--stop-command that destroys", nil, plain, PushOptions{Watch: WatchOptions{StopBox: true, StopCommand: "vastai destroy instance 1"}}, "would destroy the box"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.GPU(t, "NVIDIA H100 80GB HBM3", 81559, "550.54.15")
			if tc.setup != nil {
				tc.setup()
			}
			o := tc.o
			o.Bundle, o.Target, o.RemoteDir = tc.bundle, b.endpoint(0), t.TempDir()
			res, err := c.Push(context.Background(), o)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Push = %v, want it accepted", err)
				}
				// The accepted run trains in the test's directory: let it end before the
				// directory is removed.
				waitState(t, c, res.Run, func(s Status) bool { return s.Terminal() })
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Push = %v, want a refusal containing %q", err, tc.want)
			}
			if res != nil && res.Run != nil {
				if _, err := os.Stat(filepath.Join(o.RemoteDir, res.Run.ID, "train.py")); err == nil {
					t.Errorf("the bundle was uploaded although preflight refused the box")
				}
			}
		})
	}
}

// fakePython stands in for python3 on the box: `-m venv DIR` makes DIR/bin/python3 a copy of
// itself, `-m pip` records its environment, anything else runs the real python3.
const fakePython = `case "$1 $2" in
"-m venv") for a in "$@"; do d=$a; done; mkdir -p "$d/bin"; cp "$0" "$d/bin/python3"; exit 0 ;;
"-m pip") env > output/pip.env; exit 0 ;;
esac
exec /usr/bin/python3 "$@"
`

func TestTheTokenReachesTheTrainerButNotPip(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	b.Tool(t, "python3", fakePython)
	c, _ := testClient(t, b)
	const token = "hf_token_not_for_pip"
	bundle, _ := writeTestBundle(t, fakeSpec{}, 0, map[string][]byte{"requirements.txt": []byte("tokenizers==0.20.3\n")})
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "pip-env",
		Secrets: map[string]string{"HF_TOKEN": token}})
	st := waitState(t, c, res.Run, func(s Status) bool { return s.Terminal() })
	if st.State != StateSucceeded {
		t.Fatalf("status = %v (%s)", st, logOf(t, c, res.Run))
	}
	env, err := os.ReadFile(filepath.Join(runDirOnBox(res.Run), "output", "pip.env"))
	if err != nil {
		t.Fatalf("pip did not run: %v\n%s", err, logOf(t, c, res.Run))
	}
	if strings.Contains(string(env), token) || strings.Contains(string(env), "HF_TOKEN") {
		t.Errorf("pip install ran with the token in its environment:\n%s", env)
	}
	if _, err := c.Pull(context.Background(), res.Run, t.TempDir(), PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if res.Run.Report["hf_token_seen"] != true {
		t.Errorf("the trainer did not get the token: report %v", res.Run.Report)
	}
}

// readPIDs reads the pids the fake trainer recorded (itself and its children).
func readPIDs(tb testing.TB, runDir string) []int {
	tb.Helper()
	var pids []int
	b, err := os.ReadFile(filepath.Join(runDir, "output", "pids.json"))
	if err != nil || json.Unmarshal(b, &pids) != nil || len(pids) == 0 {
		tb.Fatalf("the fake trainer recorded no pids: %v %s", err, b)
	}
	return pids
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && statField(string(b), 3) != "Z"
}

func TestABundleWithoutTheWatchdogIsRefusedWhenTheBoxMustStop(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{}, 0, nil)
	// a bundle from before watchdog.py: rewrite its manifest without it
	m, err := ReadManifest(bundle)
	if err != nil {
		t.Fatal(err)
	}
	var files []FileEntry
	for _, f := range m.Files {
		if f.Path != "watchdog.py" {
			files = append(files, f)
		}
	}
	m.Files = files
	mb, _ := indentJSON(m)
	if err := os.WriteFile(filepath.Join(bundle, ManifestFile), mb, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(bundle, "watchdog.py"))
	_, err = c.Push(context.Background(), PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), Watch: WatchOptions{StopBox: true, StopCommand: "true"}})
	if err == nil || !strings.Contains(err.Error(), "no watchdog.py") || !strings.Contains(err.Error(), "write the bundle again") {
		t.Fatalf("Push --stop-box of a bundle without watchdog.py = %v, want a refusal", err)
	}
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir()})
	if res.Run.Box == nil || res.Run.Box.StallTimeout != 0 {
		t.Errorf("box = %+v, want no stall watchdog promised for a bundle without one", res.Run.Box)
	}
}
