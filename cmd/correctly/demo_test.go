package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/correctly/correctly/trainer/torchtest"
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
	t.Run("its bundle trains for real", func(t *testing.T) { trainDemoBundle(t, filepath.Join(dir, "bundle")) })
	// and it can be run twice
	cmd2 := exec.Command("bash", "../../scripts/demo.sh")
	cmd2.Env = cmd.Env
	if out, err := cmd2.CombinedOutput(); err != nil {
		t.Fatalf("second demo run: %v\n%s", err, out)
	}
}

// trainDemoBundle runs the demo bundle's own train.py for real (torch on the CPU, LoRA through PEFT)
// with a tiny random model made from its data in place of the demo's Qwen: what a rented GPU would
// run, minus the size. It must train, save the adapter and predict every example of the test part.
func trainDemoBundle(t *testing.T, bundle string) {
	root := torchtest.Need(t)
	w := root.Workdir(t)
	dst := w.CopyIn(t, bundle, "bundle")
	cfgPath := filepath.Join(dst, "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["method"] != "lora" || cfg["test_file"] != "data/test.jsonl" {
		t.Fatalf("demo bundle config = %v, want LoRA and the split's test part", cfg)
	}
	cfg["base_model"] = w.InsidePath("model")
	cfg["learning_rate"], cfg["max_new_tokens"], cfg["max_seq_len"] = 0.01, 8, 512
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	w.TinyModel(t, "bundle", "model")
	code, out := torchtest.Run(t, w.Command(w.InsidePath("bundle"), nil, "python3", "train.py"), 10*time.Minute)
	if code != 0 {
		t.Fatalf("the demo bundle's train.py exited %d:\n%s", code, out)
	}
	var rep struct {
		Losses []struct {
			TrainLoss float64 `json:"train_loss"`
		} `json:"losses"`
		Predictions struct {
			Examples int `json:"examples"`
		} `json:"predictions"`
	}
	if b, err := os.ReadFile(filepath.Join(dst, "output", "report.json")); err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("report.json: %v\n%s", err, out)
	}
	if len(rep.Losses) != 2 || !(rep.Losses[1].TrainLoss < rep.Losses[0].TrainLoss) {
		t.Errorf("losses = %+v, want 2 epochs with a falling train loss", rep.Losses)
	}
	tests, _ := os.ReadFile(filepath.Join(dst, "data", "test.jsonl"))
	preds, _ := os.ReadFile(filepath.Join(dst, "output", "predictions.jsonl"))
	n := strings.Count(string(tests), "\n")
	if n == 0 || strings.Count(string(preds), "\n") != n || rep.Predictions.Examples != n {
		t.Errorf("predictions.jsonl has %d lines (report: %d) for %d test examples", strings.Count(string(preds), "\n"), rep.Predictions.Examples, n)
	}
	if _, err := os.Stat(filepath.Join(dst, "output", "final", "adapter_model.safetensors")); err != nil {
		t.Errorf("no adapter saved: %v", err)
	}
}
