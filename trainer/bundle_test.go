package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testSpec() BundleSpec {
	return BundleSpec{
		Train: []Example{
			{Messages: []Message{{Role: "system", Content: "Correct the English."}, {Role: "user", Content: "I am agree <b>&</b>."}, {Role: "assistant", Content: "I agree. (동의합니다)"}}},
			{Messages: []Message{{Role: "user", Content: "He go school."}, {Role: "assistant", Content: "He goes to school."}}},
		},
		Val:            []Example{{Messages: []Message{{Role: "user", Content: "Me too agree."}, {Role: "assistant", Content: "I agree too."}}}},
		Config:         TrainConfig{BaseModel: "Qwen/Qwen2.5-0.5B-Instruct", Epochs: 2},
		PromptVersions: []string{"correction_script@2", "correction_script@1"},
		SplitID:        "v1",
		SplitKind:      "split",
		Created:        time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		ToolVersion:    "test",
		Extra:          map[string]any{"b": 1, "a": "x"},
	}
}

func readTree(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			tb.Fatal(err)
		}
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[rel] = b
		}
		return nil
	})
	return out
}

func TestWriteBundleIsByteIdenticalForTheSameSpec(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	if _, err := WriteBundle(a, testSpec()); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteBundle(b, testSpec()); err != nil {
		t.Fatal(err)
	}
	ta, tb := readTree(t, a), readTree(t, b)
	for _, want := range []string{"data/train.jsonl", "data/val.jsonl", "config.json", "train.py", "requirements.txt", "run.sh", "manifest.json"} {
		if _, ok := ta[want]; !ok {
			t.Errorf("bundle lacks %s", want)
		}
	}
	if len(ta) != len(tb) {
		t.Fatalf("bundles have %d and %d files", len(ta), len(tb))
	}
	for name, content := range ta {
		if !bytes.Equal(content, tb[name]) {
			t.Errorf("%s differs between two writes of the same spec", name)
		}
	}
	if fi, _ := os.Stat(filepath.Join(a, "run.sh")); fi == nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh mode = %v, want executable", fi)
	}
}

func TestWriteBundleManifestDescribesEveryFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	m, err := WriteBundle(dir, testSpec())
	if err != nil {
		t.Fatal(err)
	}
	if m.Counts["train"] != 2 || m.Counts["val"] != 1 || m.SplitID != "v1" || m.SplitKind != "split" || m.DatasetSHA256 == "" {
		t.Errorf("manifest = %+v, want counts 2/1, the split and a dataset hash", m)
	}
	if strings.Join(m.PromptVersions, ",") != "correction_script@1,correction_script@2" {
		t.Errorf("prompt versions = %v, want sorted", m.PromptVersions)
	}
	if _, err := VerifyBundle(dir); err != nil {
		t.Errorf("VerifyBundle on a fresh bundle: %v", err)
	}
	train, _ := os.ReadFile(filepath.Join(dir, "data", "train.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(train)), "\n")
	var ex Example
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &ex) != nil || ex.Messages[1].Content != "I am agree <b>&</b>." {
		t.Errorf("train.jsonl = %q, want 2 chat lines, HTML unescaped", train)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	json.Unmarshal(b, &cfg)
	for k, want := range map[string]any{"base_model": "Qwen/Qwen2.5-0.5B-Instruct", "method": "lora", "epochs": 2.0, "output_dir": "output", "train_file": "data/train.jsonl", "val_file": "data/val.jsonl"} {
		if cfg[k] != want {
			t.Errorf("config.json %s = %v, want %v", k, cfg[k], want)
		}
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644)
	if _, err := VerifyBundle(dir); err == nil {
		t.Error("VerifyBundle after editing config.json succeeded, want an error")
	}
}

func TestWriteBundleReplacesABundleButNotOtherDirectories(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := WriteBundle(dir, testSpec()); err != nil {
		t.Fatal(err)
	}
	spec := testSpec()
	spec.Train = spec.Train[:1]
	if m, err := WriteBundle(dir, spec); err != nil || m.Counts["train"] != 1 {
		t.Fatalf("rewriting a bundle: %v, %v", m, err)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "thesis.tex"), []byte("precious"), 0o644)
	if _, err := WriteBundle(other, testSpec()); err == nil {
		t.Error("WriteBundle into a directory holding other files succeeded, want a refusal")
	}
	if b, _ := os.ReadFile(filepath.Join(other, "thesis.tex")); string(b) != "precious" {
		t.Error("WriteBundle touched a directory it refused")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("parent holds %d entries after rewrites, want only the bundle (no temp dirs left)", len(entries))
	}
}

func TestWriteBundleRefusesBadSpecs(t *testing.T) {
	for name, mutate := range map[string]func(*BundleSpec){
		"no base model":     func(s *BundleSpec) { s.Config.BaseModel = "" },
		"unknown method":    func(s *BundleSpec) { s.Config.Method = "qlora" },
		"no train examples": func(s *BundleSpec) { s.Train = nil },
		"escaping file":     func(s *BundleSpec) { s.Files = map[string][]byte{"../x": nil} },
		"absolute output":   func(s *BundleSpec) { s.Config.OutputDir = "/tmp/out" },
	} {
		spec := testSpec()
		mutate(&spec)
		if _, err := WriteBundle(filepath.Join(t.TempDir(), "b"), spec); err == nil {
			t.Errorf("WriteBundle with %s succeeded, want an error", name)
		}
	}
}

func TestPushRefusesABundleChangedAfterItWasWritten(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c, _ := testClient(t, b)
	bundle, _ := writeTestBundle(t, fakeSpec{}, 1<<20, nil)
	flip(t, filepath.Join(bundle, "data", "blob.bin"), 5)
	_, err := c.Push(context.Background(), PushOptions{Bundle: bundle, Target: b.endpoint(0), RemoteDir: t.TempDir(), RunID: "changed"})
	if err == nil || !strings.Contains(err.Error(), "changed since the bundle was written") {
		t.Fatalf("Push of a changed bundle = %v, want a changed-bundle error", err)
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Endpoint
		ok   bool
	}{
		{"root@gpu:2222", Endpoint{"root", "gpu", 2222}, true},
		{"gpu", Endpoint{"me", "gpu", 22}, true},
		{"u@[::1]:22", Endpoint{"u", "::1", 22}, true},
		{"u@host:0", Endpoint{}, false},
		{"u@host:x", Endpoint{}, false},
		{"u@", Endpoint{}, false},
		{"u@a b", Endpoint{}, false},
	} {
		got, err := ParseEndpoint(tc.in, "me")
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseEndpoint(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestDryRunAcceptsAFreshBundleAndRejectsBrokenData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := WriteBundle(dir, testSpec()); err != nil {
		t.Fatal(err)
	}
	if out, err := DryRun(context.Background(), dir); err != nil {
		t.Fatalf("DryRun on a fresh bundle: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "data", "train.jsonl"), []byte("{not json\n"), 0o644)
	if _, err := DryRun(context.Background(), dir); err == nil {
		t.Error("DryRun with a broken train.jsonl succeeded, want an error")
	}
}
