package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/correctly/correctly/trainer"
	"github.com/correctly/correctly/trainer/sshtest"
)

// cliFakeTrainer stands in for train.py: it prints a coloured line and writes a report.
const cliFakeTrainer = `import json, os
print("epoch 1 \x1b[31mloss\x1b[0m 0.5", flush=True)
os.makedirs("output/final", exist_ok=True)
open("output/final/adapter_model.bin", "wb").write(b"weights")
json.dump({"final_eval_loss": 0.4321, "runtime_s": 12.0, "hf_token_seen": bool(os.environ.get("HF_TOKEN"))}, open("output/report.json", "w"))
`

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestTrainPushWatchPullListThroughTheCLI(t *testing.T) {
	box := sshtest.StartBox(t)
	box.GPU(t, "NVIDIA A100-SXM4-80GB", 81920, "535.104.05")
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("CORRECTLY_DATA_DIR", filepath.Join(home, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("HF_TOKEN", "hf_cli_secret_value")
	t.Setenv("MONGODB_URI", "")
	t.Setenv("HF_HUB_OFFLINE", "1")

	bundle := filepath.Join(home, "bundle")
	if _, err := trainer.WriteBundle(bundle, trainer.BundleSpec{
		Train:   []trainer.Example{{Messages: []trainer.Message{{Role: "user", Content: "I am agree."}, {Role: "assistant", Content: "I agree."}}}},
		Config:  trainer.TrainConfig{BaseModel: "tiny/model"},
		Created: time.Unix(0, 0),
		Files:   map[string][]byte{"train.py": []byte(cliFakeTrainer), "requirements.txt": nil},
	}); err != nil {
		t.Fatal(err)
	}
	host := box.User + "@127.0.0.1:" + strconv.Itoa(box.Port)
	remote := filepath.Join(home, "remote")
	ssh := []string{"-i", box.ClientKey, "--known-hosts", box.KnownHosts}

	// an unknown host is refused, and the error says how to accept it
	_, stderr, code := runCLI(t, "train", "push", "--bundle", bundle, "--host", host, "--remote-dir", remote, "--run", "cli-0",
		"-i", box.ClientKey, "--known-hosts", filepath.Join(home, "empty_known_hosts"))
	if code != 1 || !strings.Contains(stderr, "--accept-new-host-key") {
		t.Fatalf("push to an unknown host: exit %d, stderr %q; want 1 and a hint about --accept-new-host-key", code, stderr)
	}

	stdout, stderr, code := runCLI(t, append([]string{"train", "push", "--bundle", bundle, "--host", host, "--remote-dir", remote, "--run", "cli-1", "--no-install"}, ssh...)...)
	if code != 0 || stdout != "cli-1\n" {
		t.Fatalf("train push: exit %d, stdout %q, stderr %q; want 0 and the run id", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "box: the box keeps running (and billing) after the job ends: stop it yourself, or push with --stop-box") {
		t.Errorf("train push without --stop-box does not say the box keeps billing:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(remote, "cli-1", "state", "no_install")); err != nil {
		t.Errorf("--no-install did not reach the box: %v", err)
	}

	stdout, stderr, code = runCLI(t, append([]string{"train", "logs", "-f", "cli-1"}, ssh...)...)
	if code != 0 || !strings.Contains(stdout, `epoch 1 \x1b[31mloss\x1b[0m 0.5`) || strings.Contains(stdout, "\x1b") {
		t.Errorf("train logs -f: exit %d, stdout %q, stderr %q; want the log with escapes shown, not sent", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "SUCCEEDED") {
		t.Errorf("train logs -f stderr %q, want the final status SUCCEEDED", stderr)
	}

	stdout, _, code = runCLI(t, append([]string{"train", "status", "cli-1", "--json"}, ssh...)...)
	var view struct {
		Run    map[string]any `json:"run"`
		Status trainer.Status `json:"status"`
	}
	if err := json.Unmarshal([]byte(stdout), &view); err != nil || code != 0 || view.Status.State != trainer.StateSucceeded {
		t.Fatalf("train status --json: exit %d, %q (%v); want SUCCEEDED", code, stdout, err)
	}
	if view.Run["host_key"] == nil || view.Run["pid"] == nil {
		t.Errorf("stored run %v lacks the pinned host key or pid", view.Run)
	}
	if box, _ := view.Run["box"].(map[string]any); box["gpu"] != "NVIDIA A100-SXM4-80GB (80 GiB, driver 535.104.05)" {
		t.Errorf("stored run's box = %v, want the GPU nvidia-smi reported", view.Run["box"])
	}

	pulled := filepath.Join(home, "pulled")
	if _, stderr, code := runCLI(t, append([]string{"train", "pull", "cli-1", "-o", pulled}, ssh...)...); code != 0 {
		t.Fatalf("train pull: exit %d: %s", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(pulled, "final", "adapter_model.bin")); err != nil || string(b) != "weights" {
		t.Errorf("pulled adapter = %q, %v", b, err)
	}

	stdout, _, code = runCLI(t, "train", "list")
	if code != 0 || !strings.Contains(stdout, "cli-1") || !strings.Contains(stdout, "0.4321") || !strings.Contains(stdout, "SUCCEEDED") {
		t.Errorf("train list: exit %d\n%s\nwant cli-1 with SUCCEEDED and its eval loss", code, stdout)
	}

	// the token reached the job, and is gone from the box now that the job has ended
	if rep, _ := os.ReadFile(filepath.Join(pulled, "report.json")); !strings.Contains(string(rep), `"hf_token_seen": true`) {
		t.Errorf("the job did not see HF_TOKEN: report %s", rep)
	}
	if _, err := os.Stat(filepath.Join(remote, "cli-1", "state", "secrets", "HF_TOKEN")); err == nil {
		t.Errorf("HF_TOKEN is still on the box after the job ended")
	}
	stdout, _, _ = runCLI(t, "train", "list", "--json")
	if strings.Contains(stdout, "hf_cli_secret_value") {
		t.Errorf("train list --json shows the HF token: %s", stdout)
	}
}

func TestTrainCommandsRejectBadRunIDsAsUsage(t *testing.T) {
	t.Setenv("CORRECTLY_DATA_DIR", t.TempDir())
	for _, args := range [][]string{
		{"train", "push", "--bundle", "x", "--run", "$(touch /tmp/pwn)"},
		{"train", "push"},
		{"train", "status"},
	} {
		if _, stderr, code := runCLI(t, args...); code != 2 {
			t.Errorf("correctly %s: exit %d (%s), want 2", strings.Join(args, " "), code, stderr)
		}
	}
}

// trainCLIEnv isolates the CLI's store and config in a temporary home.
func trainCLIEnv(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("CORRECTLY_DATA_DIR", filepath.Join(home, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("HF_TOKEN", "")
	t.Setenv("MONGODB_URI", "")
	t.Setenv("HF_HUB_OFFLINE", "1")
	return home
}

func cliBundle(t *testing.T, dir, trainPy string) string {
	t.Helper()
	if _, err := trainer.WriteBundle(dir, trainer.BundleSpec{
		Train:   []trainer.Example{{Messages: []trainer.Message{{Role: "user", Content: "I am agree."}, {Role: "assistant", Content: "I agree."}}}},
		Config:  trainer.TrainConfig{BaseModel: "Qwen/Qwen2.5-0.5B-Instruct"},
		Created: time.Unix(0, 0),
		Files:   map[string][]byte{"train.py": []byte(trainPy), "requirements.txt": nil},
	}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTrainPushStopBoxOnRunPodSaysWhatHappensAndTheBoxStops(t *testing.T) {
	box := sshtest.StartBox(t, sshtest.Env("RUNPOD_POD_ID", "pod-cli-7"))
	box.GPU(t, "NVIDIA H100 80GB HBM3", 81559, "550.54.15")
	// runpodctl stops the pod: its sshd goes away, as a stopped pod's does
	box.Tool(t, "runpodctl", `echo "$*" >> "$(dirname "$0")/../runpodctl.calls"; kill "$(cat "$(dirname "$0")/../sshd.pid")"`)
	home := trainCLIEnv(t)
	bundle := cliBundle(t, filepath.Join(home, "bundle"), cliFakeTrainer)
	host := box.User + "@127.0.0.1:" + strconv.Itoa(box.Port)
	ssh := []string{"-i", box.ClientKey, "--known-hosts", box.KnownHosts}

	_, stderr, code := runCLI(t, append([]string{"train", "push", "--bundle", bundle, "--host", host, "--remote-dir", filepath.Join(home, "remote"),
		"--run", "rp-1", "--no-install", "--stop-box", "--max-duration", "6h"}, ssh...)...)
	if code != 0 {
		t.Fatalf("train push --stop-box: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"box: the box stops itself with runpodctl stop pod pod-cli-7 once its outputs are pulled, or 1h after the job ends",
		"never destroyed", "training stops at", "(--max-duration 6h), checkpoint kept"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("train push stderr lacks %q:\n%s", want, stderr)
		}
	}

	// once the job has ended, status shows when the box stops unless pulled
	deadline := time.Now().Add(60 * time.Second)
	var stdout string
	for {
		stdout, stderr, code = runCLI(t, append([]string{"train", "status", "rp-1"}, ssh...)...)
		if code == 0 && strings.Contains(stdout, "unless pulled") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("train status never showed the stop plan: exit %d\n%s%s", code, stdout, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !regexp.MustCompile(`box\s+the job has ended: box stops at \d\d:\d\d unless pulled \(then at once\), with runpodctl stop pod pod-cli-7`).MatchString(stdout) {
		t.Errorf("train status:\n%s\nwant the time the box stops unless pulled", stdout)
	}
	if !regexp.MustCompile(`gpu\s+NVIDIA H100 80GB HBM3 \(80 GiB, driver 550\.54\.15\)`).MatchString(stdout) {
		t.Errorf("train status does not show the GPU:\n%s", stdout)
	}

	_, stderr, code = runCLI(t, append([]string{"train", "pull", "rp-1", "-o", filepath.Join(home, "pulled")}, ssh...)...)
	if code != 0 || !strings.Contains(stderr, "the box stops itself (runpodctl stop pod pod-cli-7)") {
		t.Fatalf("train pull: exit %d, stderr %q; want it to say the box stops now", code, stderr)
	}
	calls := filepath.Join(box.Dir, "runpodctl.calls")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, _ := os.ReadFile(calls); string(b) == "stop pod pod-cli-7\n" {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(calls)
			t.Fatalf("runpodctl calls = %q, want one stop of pod-cli-7 after the pull", b)
		}
	}
	// the stopped box does not answer: status says what it last knew
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, stderr, code = runCLI(t, append([]string{"train", "status", "rp-1", "--connect-timeout", "2s"}, ssh...)...)
		if code != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the box still answers after runpodctl stopped it")
		}
	}
	if !strings.Contains(stderr, "a stopped box does not answer; last known: the outputs were pulled at") || !strings.Contains(stderr, "the box is stopping itself with runpodctl stop pod pod-cli-7") {
		t.Errorf("train status of a stopped box: %s\nwant what was last known of the box", stderr)
	}
}

func TestTrainPushRefusesABoxWithoutRoomForTheModel(t *testing.T) {
	box := sshtest.StartBox(t)
	box.GPU(t, "NVIDIA H100 80GB HBM3", 81559, "550.54.15")
	home := trainCLIEnv(t)
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/models/Qwen/Qwen2.5-0.5B-Instruct/revision/main" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"siblings":[{"rfilename":"model.safetensors","size":1125899906842624}]}`) // 1 PiB
	}))
	defer hub.Close()
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("HF_ENDPOINT", hub.URL)
	bundle := cliBundle(t, filepath.Join(home, "bundle"), cliFakeTrainer)
	host := box.User + "@127.0.0.1:" + strconv.Itoa(box.Port)
	// the host is new: accepted and recorded as ~/.ssh/config says (hashed, or not)
	for _, hash := range []string{"yes", "no"} {
		if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte("Host *\n  HashKnownHosts "+hash+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		known := filepath.Join(home, "known_hosts_"+hash)
		_, stderr, code := runCLI(t, "train", "push", "--bundle", bundle, "--host", host, "--remote-dir", filepath.Join(home, "remote"),
			"-i", box.ClientKey, "--known-hosts", known, "--accept-new-host-key")
		if code != 1 || !strings.Contains(stderr, "model download 1048576.0 GiB") || !strings.Contains(stderr, "rent a bigger disk") {
			t.Fatalf("push of a 1 PiB model: exit %d, stderr %q; want a refusal naming the model's size", code, stderr)
		}
		kh, _ := os.ReadFile(known)
		if hashed := strings.HasPrefix(string(kh), "|1|"); hashed != (hash == "yes") || len(kh) == 0 {
			t.Errorf("known_hosts with HashKnownHosts %s = %q", hash, kh)
		}
	}
}

func TestTrainPushHelpShowsTheBoxFlags(t *testing.T) {
	stdout, _, code := runCLI(t, "train", "push", "--help")
	for _, want := range []string{"--max-duration", "--stall-timeout", "--stop-box", "--stop-grace", "--stop-command", "--allow-cpu",
		"--max-duration 6h --stop-box", "Never destroyed"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("train push --help lacks %q", want)
		}
	}
	if _, stderr, code := runCLI(t, "train", "push", "--bundle", "x", "--host", "u@h", "--stop-box", "--stop-command", "vastai destroy instance 9"); code != 2 || !strings.Contains(stderr, "a stopped box keeps its disk") {
		t.Errorf("--stop-command that destroys: exit %d, %s; want a usage error", code, stderr)
	}
}
