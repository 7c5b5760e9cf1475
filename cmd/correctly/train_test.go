package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
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
json.dump({"final_eval_loss": 0.4321, "runtime_s": 12.0}, open("output/report.json", "w"))
`

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestTrainPushWatchPullListThroughTheCLI(t *testing.T) {
	box := sshtest.StartBox(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("CORRECTLY_DATA_DIR", filepath.Join(home, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("HF_TOKEN", "hf_cli_secret_value")
	t.Setenv("MONGODB_URI", "")

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

	// the token reached the box as a 0600 file and nowhere else
	fi, err := os.Stat(filepath.Join(remote, "cli-1", "state", "secrets", "HF_TOKEN"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("HF_TOKEN on the box: %v, %v; want a 0600 file", fi, err)
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
