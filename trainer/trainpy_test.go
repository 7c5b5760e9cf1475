package trainer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// These tests run assets/train.py, the script shipped in every bundle, with the python3 on PATH (CI
// installs it: apt-get install -y python3). Only its standard-library parts can run here: the dry run,
// and the unit tests of the real run's torch-free helpers in assets/train_test.py.

const trainpyGoodLine = `{"messages":[{"role":"system","content":"Rewrite the learner's English naturally."},{"role":"user","content":"I am agree with your opinion."},{"role":"assistant","content":"I agree with you."}]}`

const trainpyConfig = `{
  "base_model": "Qwen/Qwen2.5-0.5B-Instruct",
  "method": "lora",
  "epochs": 2,
  "batch_size": 2,
  "learning_rate": 0.0002,
  "seed": 7,
  "max_seq_len": 512,
  "output_dir": "output",
  "train_file": "data/train.jsonl",
  "val_file": "data/val.jsonl",
  "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "auto"}
}
`

type trainpyResult struct {
	stdout, stderr string
	code           int
}

var (
	trainpyPythonOnce sync.Once
	trainpyPythonPath string
	trainpyPythonErr  error
)

// trainpyPython returns the interpreter that python3 on PATH runs, resolved once: a version manager's
// python3 shim can take seconds to start, and these tests start python many times.
func trainpyPython(tb testing.TB) string {
	tb.Helper()
	trainpyPythonOnce.Do(func() {
		py, err := exec.LookPath("python3")
		if err != nil {
			trainpyPythonErr = err
			return
		}
		out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output()
		if exe := strings.TrimSpace(string(out)); err == nil && exe != "" {
			py = exe
		}
		trainpyPythonPath = py
	})
	if trainpyPythonErr != nil {
		tb.Fatalf("python3 is needed to test train.py (apt-get install -y python3): %v", trainpyPythonErr)
	}
	return trainpyPythonPath
}

func trainpyScript(tb testing.TB) string {
	tb.Helper()
	p, err := filepath.Abs(filepath.Join("assets", "train.py"))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// trainpyBundle writes config.json, data/train.jsonl and data/val.jsonl into a new directory.
func trainpyBundle(tb testing.TB, config string, train, val []string) string {
	tb.Helper()
	dir := tb.TempDir()
	trainpyWrite(tb, filepath.Join(dir, "config.json"), config)
	trainpyWrite(tb, filepath.Join(dir, "data", "train.jsonl"), trainpyJSONL(train))
	trainpyWrite(tb, filepath.Join(dir, "data", "val.jsonl"), trainpyJSONL(val))
	return dir
}

func trainpyJSONL(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

func trainpyWrite(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func trainpyLines(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = trainpyGoodLine
	}
	return lines
}

// trainpyRun runs python3 with args in dir. The environment is this process's, without variables
// that would change train.py's behaviour, plus extra ("KEY=value").
func trainpyRun(tb testing.TB, dir string, extra []string, args ...string) trainpyResult {
	tb.Helper()
	cmd := exec.Command(trainpyPython(tb), args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "HF_TOKEN", "HF_TOKEN_FILE", "MLFLOW_TRACKING_URI":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8")
	cmd.Env = append(cmd.Env, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := trainpyResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		tb.Fatalf("run python3 %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// trainpyDryRun runs `python3 train.py --dry-run` from the bundle directory, as `correctly train bundle` does.
func trainpyDryRun(tb testing.TB, dir string, extra ...string) trainpyResult {
	tb.Helper()
	return trainpyRun(tb, dir, extra, trainpyScript(tb), "--dry-run", "--config", "config.json")
}

// trainpyFakeModules makes a directory of packages that fail on import, standing in for the heavy
// training packages, so that a PYTHONPATH holding it proves they are never imported.
func trainpyFakeModules(tb testing.TB, failure string) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, name := range []string{"torch", "transformers", "peft", "accelerate", "safetensors", "mlflow", "numpy"} {
		trainpyWrite(tb, filepath.Join(dir, name, "__init__.py"), "raise "+failure+"('fake "+name+" must not be imported')\n")
	}
	return dir
}

func TestTrainPyDryRunAcceptsValidBundle(t *testing.T) {
	dir := trainpyBundle(t, trainpyConfig, trainpyLines(5), trainpyLines(2)[:1])
	res := trainpyDryRun(t, dir)
	if res.code != 0 {
		t.Fatalf("dry run of a valid bundle exited %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{
		"base_model    Qwen/Qwen2.5-0.5B-Instruct",
		"method        lora (r=16, alpha=32, dropout=0.05, target_modules=auto)",
		"data/train.jsonl: 5 examples",
		"data/val.jsonl: 1 examples",
		"steps: 3 per epoch, 6 in all",
		"dry run ok",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("dry run stdout lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stderr, "problem") {
		t.Errorf("dry run of a valid bundle reported problems:\n%s", res.stderr)
	}
}

func TestTrainPyDryRunReportsBadDataLineWithFileAndLine(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"invalid JSON", `{"messages": [`, "invalid JSON"},
		{"not an object", `[1, 2]`, "expected a JSON object"},
		{"no messages", `{"text": "hi"}`, `missing "messages"`},
		{"messages not a list", `{"messages": "hi"}`, `"messages" must be a list`},
		{"empty messages", `{"messages": []}`, `"messages" is empty`},
		{"message not an object", `{"messages": ["hi"]}`, "messages[0] must be an object"},
		{"unknown role", `{"messages":[{"role":"bot","content":"x"},{"role":"assistant","content":"y"}]}`, `messages[0].role is "bot": use "system", "user" or "assistant"`},
		{"missing role", `{"messages":[{"content":"x"},{"role":"assistant","content":"y"}]}`, `messages[0] has no "role"`},
		{"content not a string", `{"messages":[{"role":"user","content":["x"]},{"role":"assistant","content":"y"}]}`, "messages[0].content must be a string"},
		{"system message later", `{"messages":[{"role":"user","content":"x"},{"role":"system","content":"s"},{"role":"assistant","content":"y"}]}`, "messages[1] is a system message"},
		{"no user message", `{"messages":[{"role":"system","content":"s"},{"role":"assistant","content":"y"}]}`, "no user message"},
		{"last message from user", `{"messages":[{"role":"user","content":"x"}]}`, `the last message is "user"`},
		{"empty answer", `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":""}]}`, "the final assistant message is empty: give the corrected answer"},
		{"blank answer", `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"  \t"}]}`, "the final assistant message is empty"},
		{"empty line", ``, "empty line"},
		{"invalid UTF-8", "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", "not valid UTF-8"},
	}
	// One run checks every case: each bad line sits between good ones, and a dry run reports every bad
	// line of a file (up to 20), so each case's message must appear at its own line number.
	train := []string{trainpyGoodLine}
	lineOf := map[string]int{}
	for _, tt := range tests {
		train = append(train, tt.line, trainpyGoodLine)
		lineOf[tt.name] = len(train) - 1
	}
	dir := trainpyBundle(t, trainpyConfig, train, trainpyLines(1))
	res := trainpyDryRun(t, dir)
	if res.code != 2 {
		t.Fatalf("dry run with bad lines exited %d, want 2\nstderr:\n%s", res.code, res.stderr)
	}
	if strings.Contains(res.stdout, "dry run ok") {
		t.Errorf("dry run with bad lines printed success:\n%s", res.stdout)
	}
	if want := fmt.Sprintf("%d problem(s)", len(tests)); !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := fmt.Sprintf("data/train.jsonl:%d: %s", lineOf[tt.name], tt.want)
			if !strings.Contains(res.stderr, want) {
				t.Errorf("bad line %q: stderr lacks %q:\n%s", tt.line, want, res.stderr)
			}
		})
	}
}

func TestTrainPyDryRunReportsEveryBadLineInBothFiles(t *testing.T) {
	train := []string{`nope`, trainpyGoodLine, `{"messages":[]}`}
	val := []string{trainpyGoodLine, `{"messages":[{"role":"user","content":"x"}]}`}
	dir := trainpyBundle(t, trainpyConfig, train, val)
	res := trainpyDryRun(t, dir)
	if res.code != 2 {
		t.Fatalf("exit code %d, want 2\nstderr:\n%s", res.code, res.stderr)
	}
	for _, want := range []string{"data/train.jsonl:1: invalid JSON", "data/train.jsonl:3: ", "data/val.jsonl:2: ", "3 problem(s)"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}

func TestTrainPyDryRunRejectsEmptyTrainingData(t *testing.T) {
	dir := trainpyBundle(t, trainpyConfig, nil, trainpyLines(1))
	res := trainpyDryRun(t, dir)
	if res.code != 2 || !strings.Contains(res.stderr, "data/train.jsonl:1: no training examples") {
		t.Fatalf("dry run with an empty train file: exit %d, stderr:\n%s\nwant exit 2 and data/train.jsonl:1: no training examples", res.code, res.stderr)
	}
}

func TestTrainPyDryRunAcceptsEmptyValidationDataWithWarning(t *testing.T) {
	dir := trainpyBundle(t, trainpyConfig, trainpyLines(3), nil)
	res := trainpyDryRun(t, dir)
	if res.code != 0 {
		t.Fatalf("exit code %d, want 0\nstderr:\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "data/val.jsonl: warning: no validation examples") {
		t.Errorf("stderr lacks the no-validation warning:\n%s", res.stderr)
	}
}

func TestTrainPyDryRunRejectsBadConfigAtItsLine(t *testing.T) {
	// Each case replaces one line of trainpyConfig; want is the expected "config.json:LINE: ..." prefix.
	tests := []struct {
		name, old, new, want string
	}{
		{"epochs as string", `"epochs": 2,`, `"epochs": "2",`, "config.json:4: epochs must be a whole number"},
		{"epochs zero", `"epochs": 2,`, `"epochs": 0,`, "config.json:4: epochs must be at least 1"},
		{"epochs boolean", `"epochs": 2,`, `"epochs": true,`, "config.json:4: epochs must be a whole number"},
		{"epochs fractional", `"epochs": 2,`, `"epochs": 2.5,`, "config.json:4: epochs must be a whole number"},
		{"negative learning rate", `"learning_rate": 0.0002,`, `"learning_rate": -1,`, "config.json:6: learning_rate must be greater than 0"},
		{"unknown method", `"method": "lora",`, `"method": "qlora",`, `config.json:3: method must be "lora"`},
		{"empty base model", `"base_model": "Qwen/Qwen2.5-0.5B-Instruct",`, `"base_model": "",`, "config.json:2: base_model must be a Hugging Face model id"},
		{"missing base model", `"base_model": "Qwen/Qwen2.5-0.5B-Instruct",`, ``, `config.json:1: missing "base_model"`},
		{"tiny max_seq_len", `"max_seq_len": 512,`, `"max_seq_len": 8,`, "config.json:8: max_seq_len must be at least 16"},
		{"lora rank zero", `"r": 16,`, `"r": 0,`, "config.json:12: lora.r must be at least 1"},
		{"lora dropout above one", `"dropout": 0.05,`, `"dropout": 1.5,`, "config.json:12: lora.dropout must be at least 0 and below 1"},
		{"lora empty target list", `"target_modules": "auto"`, `"target_modules": []`, "config.json:12: lora.target_modules must not be an empty list"},
		{"lora not an object", `"lora": {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "auto"}`, `"lora": 16`, "config.json:12: lora must be an object"},
		{"missing train file", `"train_file": "data/train.jsonl",`, `"train_file": "data/missing.jsonl",`, `config.json:10: train_file "data/missing.jsonl": no such file`},
		{"invalid JSON", `"seed": 7,`, `"seed": 7,,`, "config.json:7: invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			config := strings.Replace(trainpyConfig, tt.old, tt.new, 1)
			if config == trainpyConfig {
				t.Fatalf("test case does not change the config: %q not found", tt.old)
			}
			dir := trainpyBundle(t, config, trainpyLines(2), trainpyLines(1))
			res := trainpyDryRun(t, dir)
			if res.code != 2 {
				t.Fatalf("dry run exited %d, want 2\nstderr:\n%s", res.code, res.stderr)
			}
			if !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, res.stderr)
			}
		})
	}
}

func TestTrainPyDryRunWarnsAboutUnknownKeysAndGoesOn(t *testing.T) {
	config := strings.Replace(trainpyConfig, `"seed": 7,`, `"seed": 7, "colour": "blue",`, 1)
	config = strings.Replace(config, `"r": 16,`, `"r": 16, "rank": 4,`, 1)
	dir := trainpyBundle(t, config, trainpyLines(2), trainpyLines(1))
	res := trainpyDryRun(t, dir)
	if res.code != 0 {
		t.Fatalf("dry run exited %d, want 0\nstderr:\n%s", res.code, res.stderr)
	}
	for _, want := range []string{`config.json:7: warning: unknown key "colour" ignored`, `config.json:12: warning: unknown key lora.rank ignored`} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}

func TestTrainPyDryRunFillsDefaultsForAMinimalConfig(t *testing.T) {
	dir := trainpyBundle(t, `{"base_model": "gpt2", "method": "full"}`, trainpyLines(9), trainpyLines(1))
	res := trainpyDryRun(t, dir)
	if res.code != 0 {
		t.Fatalf("dry run exited %d, want 0\nstderr:\n%s", res.code, res.stderr)
	}
	for _, want := range []string{"method        full", "epochs 3, batch_size 4, gradient_accumulation_steps 1, learning_rate 2e-05", "max_seq_len 1024", "num_generations 3", "steps: 3 per epoch"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
}

func TestTrainPyDryRunImportsNoTrainingPackages(t *testing.T) {
	fake := trainpyFakeModules(t, "RuntimeError")
	// The fake packages must really shadow any installed ones, or this test proves nothing.
	probe := trainpyRun(t, t.TempDir(), []string{"PYTHONPATH=" + fake}, "-c", "import torch")
	if probe.code == 0 || !strings.Contains(probe.stderr, "fake torch must not be imported") {
		t.Fatalf("fake torch package is not picked up from PYTHONPATH: exit %d, stderr:\n%s", probe.code, probe.stderr)
	}

	dir := trainpyBundle(t, trainpyConfig, trainpyLines(3), trainpyLines(1))
	res := trainpyDryRun(t, dir, "PYTHONPATH="+fake, "MLFLOW_TRACKING_URI=http://127.0.0.1:1")
	if res.code != 0 || !strings.Contains(res.stdout, "dry run ok") {
		t.Fatalf("dry run with failing torch/transformers/peft on PYTHONPATH: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
}

func TestTrainPyDryRunFindsTheConfigBesideTheScript(t *testing.T) {
	dir := trainpyBundle(t, trainpyConfig, trainpyLines(2), trainpyLines(1))
	script, err := os.ReadFile(trainpyScript(t))
	if err != nil {
		t.Fatal(err)
	}
	trainpyWrite(t, filepath.Join(dir, "train.py"), string(script))
	elsewhere := t.TempDir()
	res := trainpyRun(t, elsewhere, nil, filepath.Join(dir, "train.py"), "--dry-run")
	if res.code != 0 || !strings.Contains(res.stdout, "train.jsonl: 2 examples") {
		t.Fatalf("bundle's train.py --dry-run run from another directory: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
}

func TestTrainPyRealRunWithoutTorchSaysHowToInstallAndHidesToken(t *testing.T) {
	fake := trainpyFakeModules(t, "ImportError")
	dir := trainpyBundle(t, trainpyConfig, trainpyLines(2), trainpyLines(1))
	const secret = "hf_trainpy_secret_token_value"
	tokenFile := filepath.Join(t.TempDir(), "hf_token")
	if err := os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := trainpyRun(t, dir, []string{"PYTHONPATH=" + fake, "HF_TOKEN_FILE=" + tokenFile}, trainpyScript(t), "--config", "config.json")
	if res.code != 1 {
		t.Fatalf("real run without torch exited %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "python3 -m pip install -r requirements.txt") {
		t.Errorf("stderr does not say how to install the packages:\n%s", res.stderr)
	}
	if strings.Contains(res.stderr, "Traceback") {
		t.Errorf("a missing package printed a traceback instead of a clear error:\n%s", res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, secret) {
		t.Errorf("the HF token appears in the output")
	}
	if _, err := os.Stat(filepath.Join(dir, "output", "report.json")); err == nil {
		t.Errorf("a failed run wrote output/report.json")
	}
}

func TestTrainPyRequirementsArePinned(t *testing.T) {
	f, err := os.Open(filepath.Join("assets", "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pinned := regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)==[0-9][0-9A-Za-z.+]*$`)
	got := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := pinned.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("requirements.txt line %q is not pinned as name==version", line)
			continue
		}
		got[strings.ToLower(m[1])] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"torch", "transformers", "peft", "accelerate", "safetensors", "sentencepiece"} {
		if !got[name] {
			t.Errorf("requirements.txt does not pin %s", name)
		}
	}
}

func TestTrainPyUnitTests(t *testing.T) {
	res := trainpyRun(t, "assets", nil, "-m", "unittest", "-v", "train_test")
	if res.code != 0 {
		t.Fatalf("python3 -m unittest train_test exited %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "\nOK") {
		t.Errorf("unittest did not report OK:\n%s", res.stderr)
	}
}
