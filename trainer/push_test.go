package trainer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/correctly/correctly/corpus"
)

// fakeTrainer stands in for train.py in test bundles. fake.json in the bundle says what it does:
// print lines, spawn descendants, wait for state/finish or a timeout, kill itself, write output.
const fakeTrainer = `import hashlib, json, os, signal, subprocess, sys, time
cfg = json.load(open("fake.json"))
if cfg.get("ignore_term"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("fake trainer: HF_TOKEN %s" % ("set" if os.environ.get("HF_TOKEN") else "unset"), flush=True)
pids = []
if cfg.get("children"):
    pids.append(subprocess.Popen(["sleep", "300"]).pid)
    pids.append(subprocess.Popen(["bash", "-c", "trap '' TERM; sleep 301; :"]).pid)
    pids.append(subprocess.Popen(["setsid", "sleep", "302"]).pid)
os.makedirs("output/checkpoints/checkpoint-1", exist_ok=True)
with open("output/checkpoints/checkpoint-1/trainer_state.json", "w") as f:
    f.write("{}")
with open("output/pids.json", "w") as f:
    json.dump([os.getpid()] + pids, f)
for i in range(cfg.get("lines", 3)):
    sys.stdout.write(cfg.get("line", "step %d loss %.4f\n") % (i, 1.0 / (i + 1)))
    sys.stdout.flush()
    if cfg.get("line_sleep"):
        time.sleep(cfg["line_sleep"])
if cfg.get("kill_self"):
    os.kill(os.getpid(), signal.SIGKILL)
deadline = time.time() + cfg.get("wait", 0)
while time.time() < deadline and not os.path.exists("state/finish"):
    time.sleep(0.05)
os.makedirs("output/adapter", exist_ok=True)
with open("output/adapter/adapter_model.bin", "wb") as f:
    f.write(os.urandom(cfg.get("adapter_bytes", 4096)))
with open("output/report.json", "w") as f:
    json.dump({"eval_loss": [0.9, 0.5], "hf_token_seen": bool(os.environ.get("HF_TOKEN")),
               "hf_token_sha256": hashlib.sha256(os.environ.get("HF_TOKEN", "").encode()).hexdigest()}, f)
print("fake trainer: done", flush=True)
sys.exit(cfg.get("exit", 0))
`

type fakeSpec struct {
	Lines        int     `json:"lines,omitempty"`
	Line         string  `json:"line,omitempty"`
	LineSleep    float64 `json:"line_sleep,omitempty"`
	Wait         float64 `json:"wait,omitempty"`
	Exit         int     `json:"exit,omitempty"`
	KillSelf     bool    `json:"kill_self,omitempty"`
	Children     bool    `json:"children,omitempty"`
	AdapterBytes int     `json:"adapter_bytes,omitempty"`
	IgnoreTerm   bool    `json:"ignore_term,omitempty"` // a trainer hung where TERM does not reach it
}

// writeTestBundle writes a bundle whose train.py is fakeTrainer, plus a blob of random bytes.
func writeTestBundle(tb testing.TB, fake fakeSpec, blob int, extra map[string][]byte) (string, *Manifest) {
	tb.Helper()
	fj, _ := json.Marshal(fake)
	files := map[string][]byte{"train.py": []byte(fakeTrainer), "fake.json": fj, "requirements.txt": nil}
	if blob > 0 {
		b := make([]byte, blob)
		rand.Read(b)
		files["data/blob.bin"] = b
	}
	for k, v := range extra {
		files[k] = v
	}
	dir := filepath.Join(tb.TempDir(), "bundle")
	m, err := WriteBundle(dir, BundleSpec{
		Train:  []Example{{Messages: []Message{{Role: "user", Content: "I am agree."}, {Role: "assistant", Content: "I agree."}}}},
		Val:    []Example{{Messages: []Message{{Role: "user", Content: "He go school."}, {Role: "assistant", Content: "He goes to school."}}}},
		Config: TrainConfig{BaseModel: "tiny/model"}, ToolVersion: "test", Created: time.Unix(0, 0), Files: files,
	})
	if err != nil {
		tb.Fatalf("WriteBundle: %v", err)
	}
	return dir, m
}

// testClient returns a client for the box with short timers and the runs it saved.
func testClient(tb testing.TB, b testBox) (*Client, map[string]corpus.TrainRun) {
	saved := map[string]corpus.TrainRun{}
	c := &Client{
		Dial:         b.dialOptions(0),
		Heartbeat:    time.Second,
		StallAfter:   30 * time.Second,
		CancelGrace:  time.Second,
		PollInterval: 100 * time.Millisecond,
		Save: func(_ context.Context, r *corpus.TrainRun) error {
			saved[r.ID] = *r
			return nil
		},
	}
	return c, saved
}

func push(tb testing.TB, c *Client, o PushOptions) *PushResult {
	tb.Helper()
	res, err := c.Push(context.Background(), o)
	if err != nil {
		tb.Fatalf("Push: %v", err)
	}
	return res
}

// waitState polls the run's status until pred holds, failing after a generous limit.
func waitState(tb testing.TB, c *Client, run *corpus.TrainRun, pred func(Status) bool) Status {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := c.Status(context.Background(), run)
		if err == nil && pred(st) {
			return st
		}
		if time.Now().After(deadline) {
			tb.Fatalf("status of %s: last %v (%+v), %v; the wanted state never came", run.ID, st, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func is(state string) func(Status) bool { return func(s Status) bool { return s.State == state } }

func runDirOnBox(run *corpus.TrainRun) string { return filepath.Join(run.RemoteDir, run.ID) }

func TestPushedJobSurvivesACutConnectionAndSucceeds(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	r := startRelay(t, b.Port)
	b.trustOn(t, r.Port)
	c, saved := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{Wait: 60}, 0, nil)
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(r.Port), RemoteDir: t.TempDir(), RunID: "survive-1",
		Secrets: map[string]string{"HF_TOKEN": "hf_secret"}})
	if !res.Launched || res.Run.PID == 0 || res.Run.StartTime == "" || res.Run.BootID == "" {
		t.Fatalf("Push = %+v, run %+v; want a launch with pid, start time and boot id", res, res.Run)
	}
	if saved["survive-1"].Phase != "launched" || saved["survive-1"].HostKey == "" {
		t.Errorf("saved run = %+v, want phase launched with the host key pinned", saved["survive-1"])
	}
	if saved["survive-1"].BaseModel != "tiny/model" {
		t.Errorf("saved run's base model = %q, want the manifest's tiny/model", saved["survive-1"].BaseModel)
	}
	r.Close() // the link dies with the client's connections on it
	run := res.Run
	run.Port = b.Port // reach the box directly from now on (the pinned key is the same)
	waitState(t, c, run, is(StateRunning))
	secret := filepath.Join(runDirOnBox(run), "state", "secrets", "HF_TOKEN")
	if fi, err := os.Stat(secret); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file %s while the job runs: %v, %v; want mode 0600", secret, fi, err)
	}
	if err := os.WriteFile(filepath.Join(runDirOnBox(run), "state", "finish"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c, run, func(s Status) bool { return s.Terminal() })
	if st.State != StateSucceeded {
		t.Fatalf("status after finish = %v (%+v), want SUCCEEDED", st, st)
	}
	if _, err := os.Stat(secret); err == nil {
		t.Errorf("secret file %s is still on the box after the job ended", secret)
	}

	pulled := filepath.Join(t.TempDir(), "pulled")
	files, err := c.Pull(context.Background(), run, pulled, PullOptions{})
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if len(files) < 2 || run.Report["hf_token_seen"] != true {
		t.Errorf("Pull = %+v, report %v; want report.json and the adapter, with the token seen by the job", files, run.Report)
	}
	want, _ := os.ReadFile(filepath.Join(runDirOnBox(run), "output", "adapter", "adapter_model.bin"))
	got, _ := os.ReadFile(filepath.Join(pulled, "adapter", "adapter_model.bin"))
	if len(want) == 0 || !bytes.Equal(got, want) {
		t.Errorf("pulled adapter has %d bytes, box has %d; want identical", len(got), len(want))
	}

	// pushing the same run again reports the job instead of launching it twice
	again := push(t, c, PushOptions{Bundle: bundle, Run: run})
	if again.Launched || again.Status.State != StateSucceeded {
		t.Errorf("second Push of a launched run = launched %v, status %v; want no launch and SUCCEEDED", again.Launched, again.Status)
	}
}

func TestUploadCutAt40PercentResumesAndResendsLittle(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	r := startRelay(t, b.Port)
	b.trustOn(t, r.Port)
	c, _ := testClient(t, b)
	c.Retries = -1
	const size = 16 << 20
	bundle, _ := writeTestBundle(t, fakeSpec{}, size, nil)
	r.SetCutAfter(func(n int) int64 {
		if n == 0 {
			return size * 4 / 10
		}
		return 0
	})
	o := PushOptions{Bundle: bundle, Target: b.endpoint(r.Port), RemoteDir: t.TempDir(), RunID: "cut-40"}
	res, err := c.Push(context.Background(), o)
	if err == nil {
		t.Fatalf("Push through a link cut at 40%% = %+v, want an error", res)
	}
	part := filepath.Join(o.RemoteDir, "cut-40", "data", "blob.bin.part")
	fi, err := os.Stat(part)
	if err != nil {
		t.Fatalf("after the cut: %v; want a .part file on the box", err)
	}
	had := fi.Size()

	o.Run = res.Run
	res2 := push(t, c, o)
	resent := had - res2.Skipped
	if limit := int64(2<<20 + size/100); resent > limit {
		t.Errorf("resumed push re-sent %d of the %d bytes already on the box, want <= %d", resent, had, limit)
	}
	if res2.Skipped == 0 || !res2.Launched {
		t.Errorf("resumed push = %+v, want skipped bytes and a launch", res2)
	}
	assertSameFile(t, filepath.Join(bundle, "data", "blob.bin"), filepath.Join(o.RemoteDir, "cut-40", "data", "blob.bin"))
	waitState(t, c, res2.Run, is(StateSucceeded))
}

func assertSameFile(tb testing.TB, local, remote string) {
	tb.Helper()
	a, err1 := os.ReadFile(local)
	b, err2 := os.ReadFile(remote)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		tb.Errorf("%s on the box differs from %s (%v, %v)", remote, local, err1, err2)
	}
}

func TestFlippedBytesOnTheBoxAreSentAgainBeforeLaunch(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	r := startRelay(t, b.Port)
	b.trustOn(t, r.Port)
	c, _ := testClient(t, b)
	c.Retries = -1
	const size = 8 << 20
	bundle, _ := writeTestBundle(t, fakeSpec{}, size, nil)
	r.SetCutAfter(func(n int) int64 {
		if n == 0 {
			return size * 6 / 10
		}
		return 0
	})
	o := PushOptions{Bundle: bundle, Target: b.endpoint(r.Port), RemoteDir: t.TempDir(), RunID: "flip"}
	res, err := c.Push(context.Background(), o)
	if err == nil {
		t.Fatal("Push through a cut link succeeded, want an error")
	}
	dir := filepath.Join(o.RemoteDir, "flip")
	flip(t, filepath.Join(dir, "data", "blob.bin.part"), 1000)
	// a complete file of the right size but the wrong bytes
	cfg, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), bytes.Repeat([]byte("x"), len(cfg)), 0o644)

	o.Run = res.Run
	res2 := push(t, c, o)
	if res2.Repaired == 0 {
		t.Errorf("Push over flipped bytes = %+v, want repaired bytes", res2)
	}
	assertSameFile(t, filepath.Join(bundle, "data", "blob.bin"), filepath.Join(dir, "data", "blob.bin"))
	assertSameFile(t, filepath.Join(bundle, "config.json"), filepath.Join(dir, "config.json"))
	waitState(t, c, res2.Run, is(StateSucceeded))
}

func flip(tb testing.TB, p string, off int64) {
	tb.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1)
	f.ReadAt(buf, off)
	buf[0] ^= 0xff
	if _, err := f.WriteAt(buf, off); err != nil {
		tb.Fatal(err)
	}
}

func TestHostileNamesArriveByteExactAndExecuteNothing(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	marker := filepath.Join(t.TempDir(), "pwn")
	evil := "it's $(touch " + marker + ") `touch " + marker + "`\nline2 ; touch " + marker
	bundle, _ := writeTestBundle(t, fakeSpec{}, 0, map[string][]byte{
		"extra/" + evil: []byte("payload"),
	})
	remoteDir := filepath.Join(t.TempDir(), evil)
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: remoteDir, RunID: "evil.run_1",
		Secrets: map[string]string{"HF_TOKEN": "tok'$(touch " + marker + ")\n"}})
	st := waitState(t, c, res.Run, func(s Status) bool { return s.Terminal() })
	if st.State != StateSucceeded {
		t.Errorf("status = %v, want SUCCEEDED", st)
	}
	got, err := os.ReadFile(filepath.Join(remoteDir, "evil.run_1", "extra", evil))
	if err != nil || string(got) != "payload" {
		t.Errorf("file with a hostile name on the box = %q, %v; want it byte-exact", got, err)
	}
	if _, err := os.Stat(filepath.Join(remoteDir, "evil.run_1", "state", "secrets", "HF_TOKEN")); err == nil {
		t.Errorf("the secret file is still on the box after the job ended")
	}
	var log bytes.Buffer
	if _, err := c.Logs(context.Background(), res.Run, &log, LogOptions{}); err != nil || !strings.Contains(log.String(), "fake trainer: done") {
		t.Errorf("Logs = %q, %v; want the trainer's lines", log.String(), err)
	}
	if _, err := c.Pull(context.Background(), res.Run, t.TempDir(), PullOptions{}); err != nil {
		t.Errorf("Pull from a hostile remote dir: %v", err)
	}
	// the job saw the token exactly (less the final newline, as a shell reads it)
	if sum := sha256.Sum256([]byte("tok'$(touch " + marker + ")")); res.Run.Report["hf_token_sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("the token the job saw has sha256 %v, want that of the secret sent", res.Run.Report["hf_token_sha256"])
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("%s exists: a name was executed by a shell", marker)
	}
	for _, id := range []string{"", "-rf", "a b", "a/b", "a'b", "x\n", strings.Repeat("a", 65)} {
		if _, err := c.Push(context.Background(), PushOptions{Bundle: bundle, Target: b.endpoint(0), RunID: id}); err == nil && id != "" {
			t.Errorf("Push with run id %q succeeded, want it refused", id)
		}
	}
}

func TestStatusSaysFailed137ForAKilledTrainer(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{KillSelf: true}, 0, nil)
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "killed"})
	st := waitState(t, c, res.Run, func(s Status) bool { return s.Terminal() })
	if st.String() != "FAILED(137)" {
		t.Errorf("status of a SIGKILLed trainer = %v, want FAILED(137)", st)
	}
	if res.Run.Status != "FAILED(137)" || res.Run.ExitCode == nil || *res.Run.ExitCode != 137 {
		t.Errorf("run after status = %q exit %v, want FAILED(137) recorded", res.Run.Status, res.Run.ExitCode)
	}
}

func TestStatusSaysLostWhenTheProcessGroupVanishes(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{Wait: 60}, 0, nil)
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "lost"})
	waitState(t, c, res.Run, is(StateRunning))
	if err := syscall.Kill(-res.Run.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill process group %d: %v", res.Run.PID, err)
	}
	st := waitState(t, c, res.Run, func(s Status) bool { return s.Terminal() })
	if st.State != StateLost {
		t.Errorf("status after the process group vanished = %v, want LOST", st)
	}
}

func TestCancelLeavesNoDescendant(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{Wait: 120, Children: true}, 0, nil)
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "cancel"})
	waitState(t, c, res.Run, is(StateRunning))
	pidsFile := filepath.Join(runDirOnBox(res.Run), "output", "pids.json")
	var pids []int
	for deadline := time.Now().Add(30 * time.Second); len(pids) < 4 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(pidsFile)
		json.Unmarshal(b, &pids)
	}
	if len(pids) < 4 {
		t.Fatalf("the fake trainer did not record its children: %v", pids)
	}
	pids = append(pids, res.Run.PID)
	st, err := c.Cancel(context.Background(), res.Run)
	if err != nil || st.State != StateCancelled {
		t.Fatalf("Cancel = %v, %v; want CANCELLED", st, err)
	}
	for _, pid := range pids {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && statField(string(b), 3) != "Z" {
			t.Errorf("process %d survived cancel: %s", pid, b)
		}
	}
}

func TestLogsFollowEqualsTheRemoteLogAcrossReconnects(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{Lines: 8000, LineSleep: 0.0002, Line: "step %d \x1b[31mred\x1b[0m \r loss=%.6f ............................................................\n"}, 0, nil)
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "logs"})
	r := startRelay(t, b.Port)
	r.SetCutAfter(func(int) int64 { return 256 << 10 })
	run := *res.Run
	run.Port = r.Port
	c.Retries = 50
	var got bytes.Buffer
	if _, err := c.Logs(context.Background(), &run, &got, LogOptions{Follow: true}); err != nil {
		t.Fatalf("Logs -f: %v", err)
	}
	want, _ := os.ReadFile(filepath.Join(runDirOnBox(res.Run), "logs", "train.log"))
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("Logs -f gave %d bytes, the remote log has %d; want them equal", got.Len(), len(want))
	}
	if r.Conns() < 3 {
		t.Errorf("the relay saw %d connections, want reconnects (the test cuts every 256 KiB)", r.Conns())
	}
}

func TestPullResumesAPartialFileAndReplacesWrongBytes(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{AdapterBytes: 3 << 20}, 0, nil)
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "pull"})
	waitState(t, c, res.Run, is(StateSucceeded))
	remote, _ := os.ReadFile(filepath.Join(runDirOnBox(res.Run), "output", "adapter", "adapter_model.bin"))

	dir := t.TempDir()
	local := filepath.Join(dir, "adapter", "adapter_model.bin")
	os.MkdirAll(filepath.Dir(local), 0o755)
	os.WriteFile(local+".part", remote[:1<<20], 0o644) // an earlier pull cut after 1 MiB
	files, err := c.Pull(context.Background(), res.Run, dir, PullOptions{})
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	for _, f := range files {
		if f.Path == "adapter/adapter_model.bin" && f.Fetched != int64(len(remote))-1<<20 {
			t.Errorf("resumed pull fetched %d bytes of the adapter, want %d (the rest)", f.Fetched, len(remote)-1<<20)
		}
	}
	assertSameFile(t, local, filepath.Join(runDirOnBox(res.Run), "output", "adapter", "adapter_model.bin"))

	os.Remove(local)
	bad := append([]byte{}, remote[:1<<20]...)
	bad[10] ^= 0xff
	os.WriteFile(local+".part", bad, 0o644) // a partial file with wrong bytes
	if _, err := c.Pull(context.Background(), res.Run, dir, PullOptions{}); err != nil {
		t.Fatalf("Pull over a corrupt partial file: %v", err)
	}
	assertSameFile(t, local, filepath.Join(runDirOnBox(res.Run), "output", "adapter", "adapter_model.bin"))
	if _, err := os.Stat(local + ".part"); err == nil {
		t.Error("a .part file is left after a verified pull")
	}
}

func TestRunShSetsUpAVirtualenvUnlessToldNotTo(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{}, 0, map[string][]byte{"requirements.txt": []byte("# no packages to install\n")})
	res := push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "venv"})
	if st := waitState(t, c, res.Run, func(s Status) bool { return s.Terminal() }); st.State != StateSucceeded {
		t.Fatalf("status = %v, want SUCCEEDED", st)
	}
	if _, err := os.Stat(filepath.Join(runDirOnBox(res.Run), ".venv", "bin", "python3")); err != nil {
		t.Errorf("no virtualenv in the run directory: %v", err)
	}

	res = push(t, c, PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "no-venv", NoInstall: true})
	if st := waitState(t, c, res.Run, func(s Status) bool { return s.Terminal() }); st.State != StateSucceeded {
		t.Fatalf("status with --no-install = %v, want SUCCEEDED", st)
	}
	if _, err := os.Stat(filepath.Join(runDirOnBox(res.Run), ".venv")); err == nil {
		t.Error("--no-install still created a virtualenv")
	}
}
