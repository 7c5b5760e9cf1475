package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs `make demo`'s script from a clean directory, with no server and no API key, and
// checks that it leaves every artefact it promises inside its directory and nowhere else.
func TestDemo(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "demo")
	home := t.TempDir()
	cmd := exec.Command("bash", "../../scripts/demo.sh")
	cmd.Env = append(os.Environ(), "BIN="+bin, "DEMO_DIR="+dir, "HOME="+home, "OPENAI_API_KEY=", "OPENAI_BASE_URL=",
		"MONGODB_URI=", "CHROMA_URL=", "XDG_DATA_HOME="+filepath.Join(home, "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"report.html", "bundle/manifest.json", "bundle/data/train.jsonl", "export/chat.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("demo left no %s: %v", want, err)
		}
	}
	if !strings.Contains(string(out), "accepted 200/200") {
		t.Errorf("demo did not accept 200 records:\n%s", out)
	}
	if !strings.Contains(string(out), "train push") {
		t.Errorf("demo does not say how to train push:\n%s", out)
	}
	entries, _ := os.ReadDir(home)
	if len(entries) != 0 {
		t.Errorf("demo wrote outside its directory: %v in HOME", entries)
	}
	// and it can be run twice
	cmd2 := exec.Command("bash", "../../scripts/demo.sh")
	cmd2.Env = cmd.Env
	if out, err := cmd2.CombinedOutput(); err != nil {
		t.Fatalf("second demo run: %v\n%s", err, out)
	}
}
