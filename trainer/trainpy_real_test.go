package trainer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/correctly/correctly/trainer/torchtest"
)

// These tests run the bundle's train.py for real: torch and transformers on the CPU (from the
// Debian sid root .ci/run builds), PEFT for LoRA, and a tiny random model made from the bundle's own
// data. They check what a user pays a GPU for: training that lowers the loss, a relaunch after
// kill -9 or a TERM that continues from the last complete checkpoint, the adapter or model saved,
// report.json, the test part's predictions, and the out-of-memory message.

const realSystem = "당신은 한국인 영어 학습자의 글을 교정하는 영어 선생님입니다. You correct English written by Korean learners: rewrite it as natural English and explain each correction in Korean."

// realExamples are correction examples shaped like the demo's (system prompt, learner text, the
// corrected text with its correction points), n of them, different for each seed.
func realExamples(n, seed int) []Example {
	subjects := []string{"I", "My friend", "My mother", "We", "They", "My teacher", "He", "She"}
	verbs := [][3]string{{"go", "went", "과거 시제"}, {"eat", "ate", "과거 시제"}, {"study", "studied", "과거 시제"}, {"watch", "watched", "과거 시제"}, {"meet", "met", "과거 시제"}}
	objects := []string{"to school", "lunch", "English", "a movie", "to Busan", "my cousin"}
	out := make([]Example, n)
	for i := range out {
		k := i*7 + seed*13
		s, v, o := subjects[k%len(subjects)], verbs[(k/3)%len(verbs)], objects[(k/5)%len(objects)]
		before := fmt.Sprintf("Yesterday %s %s %s with my friend.", s, v[0], o)
		after := fmt.Sprintf("Yesterday %s %s %s with my friend.", s, v[1], o)
		out[i] = Example{Messages: []Message{
			{Role: "system", Content: realSystem},
			{Role: "user", Content: before},
			{Role: "assistant", Content: fmt.Sprintf("### 교정 후 ###\n%s\n\n### 교정 지점 ###\n- %s → %s: %s", after, v[0], v[1], v[2])},
		}}
	}
	return out
}

// realBundle writes a bundle into the workdir and a tiny model made from its data, and returns the
// bundle's path outside the root.
func realBundle(t *testing.T, w *torchtest.Workdir, cfg TrainConfig, test int) string {
	t.Helper()
	cfg.BaseModel = w.InsidePath("model")
	spec := BundleSpec{Train: realExamples(64, 1), Val: realExamples(8, 2), Test: realExamples(test, 3), Config: cfg,
		ToolVersion: "test", Created: time.Unix(0, 0)}
	dir := filepath.Join(w.Path, "bundle")
	if _, err := WriteBundle(dir, spec); err != nil {
		t.Fatalf("WriteBundle: %v", err)
	}
	w.TinyModel(t, "bundle", "model")
	return dir
}

type realReport struct {
	Method        string `json:"method"`
	TrainExamples int    `json:"train_examples"`
	TestExamples  int    `json:"test_examples"`
	Losses        []struct {
		Epoch     int      `json:"epoch"`
		TrainLoss *float64 `json:"train_loss"`
		EvalLoss  *float64 `json:"eval_loss"`
	} `json:"losses"`
	FinalEvalLoss *float64         `json:"final_eval_loss"`
	Generations   []map[string]any `json:"generations"`
	Predictions   *struct {
		File     string `json:"file"`
		Examples int    `json:"examples"`
	} `json:"predictions"`
	Torch        string `json:"torch"`
	Transformers string `json:"transformers"`
}

func readRealReport(t *testing.T, bundle string) realReport {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundle, "output", "report.json"))
	if err != nil {
		t.Fatalf("report.json: %v", err)
	}
	var r realReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report.json: %v\n%s", err, b)
	}
	return r
}

// checkLossFalls holds the report to a lower train and eval loss in the last epoch than in the first.
func checkLossFalls(t *testing.T, r realReport, epochs int) {
	t.Helper()
	if len(r.Losses) != epochs {
		t.Fatalf("report losses = %+v, want one row for each of %d epochs", r.Losses, epochs)
	}
	first, last := r.Losses[0], r.Losses[len(r.Losses)-1]
	if first.TrainLoss == nil || last.TrainLoss == nil || first.EvalLoss == nil || last.EvalLoss == nil {
		t.Fatalf("report losses = %+v, want train and eval loss for every epoch", r.Losses)
	}
	if !(*last.TrainLoss < *first.TrainLoss) || !(*last.EvalLoss < *first.EvalLoss) {
		t.Errorf("loss did not fall: epoch 1 train %.4f eval %.4f, epoch %d train %.4f eval %.4f",
			*first.TrainLoss, *first.EvalLoss, epochs, *last.TrainLoss, *last.EvalLoss)
	}
	if r.FinalEvalLoss == nil || *r.FinalEvalLoss != *last.EvalLoss {
		t.Errorf("final_eval_loss = %v, want the last epoch's eval loss %.4f", r.FinalEvalLoss, *last.EvalLoss)
	}
}

var stepLine = regexp.MustCompile(`^epoch [0-9.]+/\d+ step (\d+)/(\d+) loss `)

// firstStep is the step of the first progress line in out, or -1.
func firstStep(out string) int {
	for _, l := range strings.Split(out, "\n") {
		if m := stepLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	return -1
}

func stepAtLeast(n int) func(string) bool {
	return func(l string) bool {
		m := stepLine.FindStringSubmatch(l)
		if m == nil {
			return false
		}
		k, _ := strconv.Atoi(m[1])
		return k >= n
	}
}

func TestTrainPyLoRATrainsResumesAfterKill9AndPredictsTheTestPart(t *testing.T) {
	root := torchtest.Need(t)
	w := root.Workdir(t)
	bundle := realBundle(t, w, TrainConfig{Method: "lora", Epochs: 3, BatchSize: 8, LearningRate: 0.01, MaxSeqLen: 256, MaxNewTokens: 12}, 6)
	dir := w.InsidePath("bundle")

	// 64 examples in batches of 8: 8 steps an epoch, a checkpoint after each epoch. Slowed steps
	// let the kill land in the second epoch, after checkpoint-8 is complete.
	p := torchtest.Start(t, w.Command(dir, []string{"CORRECTLY_TEST_STEP_SLEEP=0.2"}, "python3", "train.py"))
	p.WaitFor(t, 5*time.Minute, "a progress line of step 10 (the second epoch)", stepAtLeast(10))
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.Wait(t, time.Minute)
	ckpts := filepath.Join(bundle, "output", "checkpoints")
	if _, err := os.Stat(filepath.Join(ckpts, "checkpoint-8", "trainer_state.json")); err != nil {
		t.Fatalf("after kill -9 in epoch 2: checkpoint-8 incomplete or missing: %v\n%s", err, p.Output())
	}
	if _, err := os.Stat(filepath.Join(bundle, "output", "report.json")); err == nil {
		t.Fatalf("a run killed in epoch 2 of 3 wrote report.json")
	}

	code, out := torchtest.Run(t, w.Command(dir, nil, "python3", "train.py"), 5*time.Minute)
	if code != 0 {
		t.Fatalf("relaunch after kill -9 exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "resuming from output/checkpoints/checkpoint-8") {
		t.Errorf("relaunch does not resume from the last complete checkpoint (checkpoint-8):\n%s", out)
	}
	if s := firstStep(out); s != 9 {
		t.Errorf("relaunch's first step = %d, want 9 (the step after checkpoint-8):\n%s", s, out)
	}

	r := readRealReport(t, bundle)
	checkLossFalls(t, r, 3)
	if r.Method != "lora" || r.TrainExamples != 64 || r.Torch == "" || r.Transformers == "" {
		t.Errorf("report = %+v, want method lora over 64 examples", r)
	}
	for _, f := range []string{"adapter_model.safetensors", "adapter_config.json", "tokenizer.json"} {
		if fi, err := os.Stat(filepath.Join(bundle, "output", "final", f)); err != nil || fi.Size() == 0 {
			t.Errorf("output/final/%s: %v; want the saved adapter and tokenizer", f, err)
		}
	}
	if len(r.Generations) != 3 {
		t.Errorf("report has %d generations, want num_generations (3)", len(r.Generations))
	}

	// predictions.jsonl: one line per test example, in order, for correctly eval
	if r.Predictions == nil || r.Predictions.File != "predictions.jsonl" || r.Predictions.Examples != 6 || r.TestExamples != 6 {
		t.Errorf("report predictions = %+v, test_examples %d; want predictions.jsonl with 6 examples", r.Predictions, r.TestExamples)
	}
	test := realExamples(6, 3)
	f, err := os.Open(filepath.Join(bundle, "output", "predictions.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for ; sc.Scan(); n++ {
		var row struct {
			Index      int       `json:"index"`
			Messages   []Message `json:"messages"`
			Reference  string    `json:"reference"`
			Prediction *string   `json:"prediction"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("predictions.jsonl line %d: %v", n+1, err)
		}
		want := test[n].Messages
		if row.Index != n || len(row.Messages) != 2 || row.Messages[1] != want[1] || row.Messages[0] != want[0] ||
			row.Reference != want[2].Content || row.Prediction == nil {
			t.Errorf("predictions.jsonl line %d = %s; want index %d, the prompt without the answer, the reference and a prediction", n+1, sc.Bytes(), n)
		}
	}
	if n != 6 {
		t.Errorf("predictions.jsonl has %d lines, want 6 (one per test example)", n)
	}
}

func TestTrainPyFullFineTuneStopsOnTermWithACheckpointAndResumes(t *testing.T) {
	root := torchtest.Need(t)
	w := root.Workdir(t)
	bundle := realBundle(t, w, TrainConfig{Method: "full", Epochs: 2, BatchSize: 8, LearningRate: 0.003, MaxSeqLen: 256, MaxNewTokens: 8}, 0)
	dir := w.InsidePath("bundle")

	// a TERM in the middle of epoch 1 (what the watchdog sends at --max-duration): a checkpoint at
	// that step, exit 4
	p := torchtest.Start(t, w.Command(dir, []string{"CORRECTLY_TEST_STEP_SLEEP=0.2"}, "python3", "train.py"))
	p.WaitFor(t, 5*time.Minute, "a progress line of step 3", stepAtLeast(3))
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.Wait(t, 2*time.Minute)
	out := p.Output()
	if code != 4 {
		t.Fatalf("train.py after TERM exited %d, want 4 (stopped, checkpoint saved):\n%s", code, out)
	}
	m := regexp.MustCompile(`stopped by TERM after step (\d+) of 16: checkpoint output/checkpoints/checkpoint-(\d+) saved`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] {
		t.Fatalf("train.py after TERM does not name the checkpoint it saved:\n%s", out)
	}
	step, _ := strconv.Atoi(m[1])
	if step < 3 || step >= 8 {
		t.Fatalf("stopped after step %d, want a step of epoch 1 after the TERM (3-7)", step)
	}
	if _, err := os.Stat(filepath.Join(bundle, "output", "checkpoints", "checkpoint-"+m[1], "trainer_state.json")); err != nil {
		t.Fatalf("the checkpoint saved on TERM is incomplete: %v", err)
	}

	code, out = torchtest.Run(t, w.Command(dir, nil, "python3", "train.py"), 5*time.Minute)
	if code != 0 {
		t.Fatalf("relaunch after TERM exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "resuming from output/checkpoints/checkpoint-"+m[1]) || firstStep(out) != step+1 {
		t.Errorf("relaunch does not continue at step %d from checkpoint-%d:\n%s", step+1, step, out)
	}
	r := readRealReport(t, bundle)
	checkLossFalls(t, r, 2)
	if r.Method != "full" || r.Predictions != nil {
		t.Errorf("report = %+v, want method full and no predictions (no test part)", r)
	}
	if fi, err := os.Stat(filepath.Join(bundle, "output", "final", "model.safetensors")); err != nil || fi.Size() == 0 {
		t.Errorf("output/final/model.safetensors: %v; want the full model saved", err)
	}
	if _, err := os.Stat(filepath.Join(bundle, "output", "predictions.jsonl")); err == nil {
		t.Errorf("a bundle without a test part got predictions.jsonl")
	}
}

func TestTrainPyOutOfMemorySaysWhatToLower(t *testing.T) {
	root := torchtest.Need(t)
	w := root.Workdir(t)
	realBundle(t, w, TrainConfig{Method: "lora", Epochs: 1, BatchSize: 8, MaxSeqLen: 256}, 0)
	// step 3 raises torch.cuda.OutOfMemoryError, as a GPU too small for the batch does
	code, out := torchtest.Run(t, w.Command(w.InsidePath("bundle"), []string{"CORRECTLY_TEST_OOM_AT_STEP=3"}, "python3", "train.py"), 5*time.Minute)
	if code != 3 {
		t.Fatalf("train.py out of memory exited %d, want 3:\n%s", code, out)
	}
	for _, want := range []string{"error: out of GPU memory at step 2", "batch_size 8, max_seq_len 256: lower batch_size or max_seq_len in config.json", "resumes from the last checkpoint"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Traceback") {
		t.Errorf("out of memory printed a traceback instead of the message:\n%s", out)
	}
}
