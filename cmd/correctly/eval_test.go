package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/edits"
	"github.com/correctly/correctly/llmtest"
	"github.com/correctly/correctly/scoring"
)

// beaDev is BEA-2019's development set, kept beside the repository and never copied into it.
const beaDev = "../../../shared/data/gec/bea-dev.m2"

// evalEnv points the CLI at a fresh data directory and a fake endpoint.
func evalEnv(t *testing.T, srv *llmtest.Server) {
	t.Helper()
	trainCLIEnv(t)
	t.Setenv("OPENAI_BASE_URL", srv.BaseURL())
	t.Setenv("OPENAI_API_KEY", "sk-test")
	t.Setenv("CORRECTLY_MODEL", "")
	t.Setenv("CHROMA_URL", "")
}

type evalJSON struct {
	ID        string  `json:"id"`
	Status    string  `json:"status"`
	Items     int     `json:"items"`
	Answered  int     `json:"answered"`
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	FN        int     `json:"fn"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F05       float64 `json:"f0.5"`
	Exact     int     `json:"exact"`
	Over      float64 `json:"over_correction"`
	Unread    int     `json:"unreadables"`
	Requests  int     `json:"requests"`
	P50       int64   `json:"latency_p50_ms"`
	Source    string  `json:"source"`
	TestSet   struct {
		Kind  string `json:"kind"`
		Hash  string `json:"hash"`
		Items int    `json:"items"`
	} `json:"test_set"`
	TrainRun       string   `json:"train_run"`
	PromptVersions []string `json:"prompt_versions"`
	Unreadable     []struct {
		Index  int    `json:"index"`
		Answer string `json:"answer"`
	} `json:"unreadable"`
}

func decodeEval(t *testing.T, out string) evalJSON {
	t.Helper()
	var e evalJSON
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("eval --json printed no eval: %v\n%s", err, out)
	}
	return e
}

func readBEADev(t *testing.T) []edits.M2Sentence {
	t.Helper()
	f, err := os.Open(beaDev)
	if err != nil {
		t.Fatalf("open the BEA-2019 dev set (expected beside the repository): %v", err)
	}
	defer f.Close()
	sents, err := edits.ReadM2(f)
	if err != nil {
		t.Fatal(err)
	}
	return sents
}

func TestEvalOnBEADevScoresGoldOneAndSourcesRecallZero(t *testing.T) {
	sents := readBEADev(t)
	srv := llmtest.New()
	defer srv.Close()
	evalEnv(t, srv)

	// gold corrections, one a line: what any other system's output file looks like
	var b strings.Builder
	for _, s := range sents {
		b.WriteString(edits.Detokenize(s.Corrected(0)) + "\n")
	}
	answers := filepath.Join(t.TempDir(), "gold.txt")
	os.WriteFile(answers, []byte(b.String()), 0o644)
	out, stderr, code := runCLI(t, "eval", "--m2", beaDev, "--predictions", answers, "--label", "gold", "--json")
	if code != 0 {
		t.Fatalf("eval --predictions gold.txt: exit %d\n%s", code, stderr)
	}
	g := decodeEval(t, out)
	if g.F05 != 1 || g.Precision != 1 || g.Recall != 1 || g.Answered != 4384 || g.Exact != 4384 || g.TP == 0 || g.Source != "file" {
		t.Errorf("gold corrections: P %v R %v F0.5 %v, %d answered, %d exact, from %s; want 1 1 1 and all 4384 exact from the file",
			g.Precision, g.Recall, g.F05, g.Answered, g.Exact, g.Source)
	}
	if n := srv.Counts().Requests; n != 0 {
		t.Errorf("scoring a file sent %d requests, want none", n)
	}

	// the default fake endpoint answers each sentence unchanged, in the trained format
	out, stderr, code = runCLI(t, "eval", "--m2", beaDev, "--label", "unchanged", "--json")
	if code != 0 {
		t.Fatalf("eval of unchanged answers: exit %d\n%s", code, stderr)
	}
	s := decodeEval(t, out)
	if s.Recall != 0 || s.TP != 0 || s.FP != 0 || s.FN != g.TP || s.Over != 0 || s.Unread != 0 || s.Requests != 4384 {
		t.Errorf("unchanged sources: recall %v tp %d fp %d fn %d over-correction %v, %d unreadable, %d requests; want recall 0, no edit, fn %d, 4384 requests",
			s.Recall, s.TP, s.FP, s.FN, s.Over, s.Unread, s.Requests, g.TP)
	}
	if s.TestSet.Hash != g.TestSet.Hash || s.TestSet.Kind != "m2" {
		t.Errorf("the two evals name different test sets: %+v and %+v", s.TestSet, g.TestSet)
	}

	// an endpoint answering with the gold correction of each text, in the trained format: a few BEA
	// sources repeat with different corrections, which no model can tell apart, so the endpoint's
	// scores must equal the library's on the same answers
	gold := map[string]string{}
	for _, s := range sents {
		gold[edits.Detokenize(s.Source)] = edits.Detokenize(s.Corrected(0))
	}
	srv.Reply = func(_, user string) string {
		return "### 교정 후 ###\n" + gold[user] + "\n\n### 교정 지점 ###\n1. 고침"
	}
	out, stderr, code = runCLI(t, "eval", "--m2", beaDev, "--label", "gold-endpoint", "--json")
	if code != 0 {
		t.Fatalf("eval of the gold endpoint: exit %d\n%s", code, stderr)
	}
	ge := decodeEval(t, out)
	lib := scoring.NewScorer()
	for _, it := range scoring.ItemsFromM2(sents) {
		lib.Add(it, gold[it.Text], true)
	}
	want := lib.Scores()
	if ge.TP != want.TP || ge.FP != want.FP || ge.FN != want.FN || ge.Exact != want.Exact || ge.F05 != want.F05 || ge.F05 < 0.999 {
		t.Errorf("gold endpoint = tp %d fp %d fn %d exact %d F0.5 %v; the library on the same answers: %d %d %d %d %v",
			ge.TP, ge.FP, ge.FN, ge.Exact, ge.F05, want.TP, want.FP, want.FN, want.Exact, want.F05)
	}

	out, _, code = runCLI(t, "eval", "list", "--json")
	var list []evalJSON
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 3 {
		t.Fatalf("eval list --json = exit %d, %d evals, want 3", code, len(list))
	}
	out, _, code = runCLI(t, "eval", "show", g.ID, "--json")
	if sh := decodeEval(t, out); code != 0 || sh.ID != g.ID || sh.F05 != 1 {
		t.Errorf("eval show %s = %+v, want the gold eval", g.ID, sh)
	}
}

func TestEvalRefusesBadInputBeforeAskingAnything(t *testing.T) {
	srv := llmtest.New()
	defer srv.Close()
	evalEnv(t, srv)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.m2")
	os.WriteFile(good, []byte("S He go to school .\nA 1 2|||R:VERB:SVA|||goes|||REQUIRED|||-NONE-|||0\n\nS I am fine .\nA -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0\n"), 0o644)
	bad := filepath.Join(dir, "bad.m2")
	os.WriteFile(bad, []byte("S He go to school .\nA 1 2|||R:VERB:SVA|||goes|||REQUIRED|||-NONE-|||0\n\nS I am fine .\nA one two|||noop\n"), 0o644)

	_, stderr, code := runCLI(t, "eval", "--m2", bad)
	if code != 1 || !strings.Contains(stderr, bad+":5:") {
		t.Errorf("eval of a broken M2 file = exit %d, %q; want exit 1 naming %s:5", code, stderr, bad)
	}
	srv.Model = "served-model"
	_, stderr, code = runCLI(t, "eval", "--m2", good, "--model", "no-such-model")
	if code != 1 || !strings.Contains(stderr, "404") || !strings.Contains(stderr, "--model") {
		t.Errorf("eval of an unknown model = exit %d, %q; want exit 1 with the 404 and what to change", code, stderr)
	}
	if n := srv.Counts().Requests; n != 1 {
		t.Errorf("the server received %d requests for an unknown model, want 1", n)
	}
	out, _, _ := runCLI(t, "eval", "list", "--json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("eval list after refused evals = %s, want none stored", out)
	}
	_, stderr, code = runCLI(t, "eval", "--m2", good, "--split", "v1")
	if code != 2 {
		t.Errorf("eval with two test sets = exit %d (%s), want 2", code, stderr)
	}
	_, stderr, code = runCLI(t, "eval")
	if code != 2 || !strings.Contains(stderr, "--split") {
		t.Errorf("eval without a test set = exit %d (%s), want 2 saying what to give", code, stderr)
	}
}

func TestEvalOnASplitsTestPartLinksTheTrainRun(t *testing.T) {
	srv := llmtest.New()
	defer srv.Close()
	evalEnv(t, srv)
	for _, args := range [][]string{
		{"generate", "--backend", "rules", "-n", "60", "--seed", "3"},
		{"split", "create", "notest", "--ratios", "train=0.9,val=0.1", "--seed", "1"},
		{"split", "create", "v1", "--ratios", "train=0.6,val=0.1,test=0.3", "--seed", "1"},
	} {
		if _, stderr, code := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
	}
	_, stderr, code := runCLI(t, "eval", "--split", "notest")
	if code != 1 || !strings.Contains(stderr, "no test part") || srv.Counts().Requests != 0 {
		t.Errorf("eval of a split without a test part = exit %d, %q, %d requests; want exit 1 saying so, no request", code, stderr, srv.Counts().Requests)
	}
	// a train run made from the split, as train push records it
	ctx := context.Background()
	st, err := corpus.Open(ctx, corpus.Options{DataDir: os.Getenv("CORRECTLY_DATA_DIR"), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.SplitMembers(ctx, "v1", "test")
	if err != nil || len(ids) == 0 {
		t.Fatalf("split v1 test part = %d records, %v", len(ids), err)
	}
	var versions []string
	var before, after []string
	if _, err := st.EachRecordByID(ctx, ids, func(r *corpus.Record) error {
		versions = []string{r.PromptVersion}
		before = append(before, r.Fields["before"].(string))
		after = append(after, r.Fields["after"].(string))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pulled := t.TempDir()
	run := &corpus.TrainRun{ID: "run-eval-1", Host: "box", SplitID: "v1", PromptVersions: versions, BaseModel: "tiny/model",
		TestRecords: ids, PulledTo: pulled, Phase: "done", CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := st.SaveTrainRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// predictions.jsonl as train.py writes it: the first half corrected, the rest left unchanged,
	// one answer unreadable
	var b bytes.Buffer
	for i := range ids {
		pred := "### 교정 후 ###\n" + after[i] + "\n\n### 교정 지점 ###\n1. x"
		switch {
		case i == 0:
			pred = "### 해석 ###\n모르겠다"
		case i >= len(ids)/2:
			pred = "### 교정 후 ###\n" + before[i]
		}
		line, _ := json.Marshal(map[string]any{"index": i, "messages": []map[string]string{{"role": "user", "content": before[i]}},
			"reference": "### 교정 후 ###\n" + after[i], "prediction": pred})
		b.Write(append(line, '\n'))
	}
	os.WriteFile(filepath.Join(pulled, "predictions.jsonl"), b.Bytes(), 0o644)

	out, stderr, code := runCLI(t, "eval", "--train-run", "run-eval-1", "--json")
	if code != 0 {
		t.Fatalf("eval --train-run: exit %d\n%s", code, stderr)
	}
	ft := decodeEval(t, out)
	if ft.Source != "train_run" || ft.TrainRun != "run-eval-1" || len(ft.PromptVersions) != 1 || ft.PromptVersions[0] != versions[0] {
		t.Errorf("eval --train-run = source %s, run %s, versions %v; want the run and its prompt versions", ft.Source, ft.TrainRun, ft.PromptVersions)
	}
	if ft.Unread != 1 || len(ft.Unreadable) != 1 || ft.Unreadable[0].Index != 0 || ft.Precision != 1 || ft.Recall <= 0 || ft.Recall >= 1 {
		t.Errorf("eval --train-run = P %v R %v, %d unreadable %+v; want precision 1, a partial recall, answer 0 listed", ft.Precision, ft.Recall, ft.Unread, ft.Unreadable)
	}
	if srv.Counts().Requests != 0 {
		t.Errorf("scoring pulled predictions sent %d requests, want none", srv.Counts().Requests)
	}
	// the same test part asked of an endpoint: the same test set, by hash
	out, stderr, code = runCLI(t, "eval", "--split", "v1", "--train-run", "run-eval-1", "--model", "served", "--json")
	if code != 0 {
		t.Fatalf("eval --split v1: exit %d\n%s", code, stderr)
	}
	ep := decodeEval(t, out)
	if ep.TestSet.Hash != ft.TestSet.Hash || ep.Answered != len(ids) || ep.Requests != len(ids) || ep.TrainRun != "run-eval-1" {
		t.Errorf("eval --split v1 = hash %s (train run's %s), %d answered, %d requests, run %q; want the same test set, one request each",
			ep.TestSet.Hash, ft.TestSet.Hash, ep.Answered, ep.Requests, ep.TrainRun)
	}
	// the fake endpoint answers each learner text unchanged: nothing right, nothing over-corrected
	if ep.TP != 0 || ep.FP != 0 || ep.Recall != 0 {
		t.Errorf("unchanged answers from the endpoint = tp %d fp %d recall %v, want none", ep.TP, ep.FP, ep.Recall)
	}
	out, _, _ = runCLI(t, "eval", "list")
	if !strings.Contains(out, "run-eval-1") || !strings.Contains(out, short8(versions[0])) {
		t.Errorf("eval list does not link the model to its prompt version:\n%s", out)
	}
	// the report's models section: both models on one test set, linked to the version's column
	out, stderr, code = runCLI(t, "report", "--json")
	var rep struct {
		Models []struct {
			Eval           string   `json:"eval"`
			Rank           int      `json:"rank"`
			F05            float64  `json:"f0.5"`
			TestHash       string   `json:"test_hash"`
			PromptVersions []string `json:"prompt_versions"`
		} `json:"models"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("report --json: exit %d\n%s", code, stderr)
	}
	if len(rep.Models) != 2 || rep.Models[0].Eval != ft.ID || rep.Models[0].Rank != 1 || rep.Models[1].Rank != 2 ||
		rep.Models[0].TestHash != rep.Models[1].TestHash || len(rep.Models[0].PromptVersions) != 1 {
		t.Errorf("report models = %+v, want the fine-tuned model first, then the endpoint's, on one test set", rep.Models)
	}
	out, _, _ = runCLI(t, "report")
	if !strings.Contains(out, "models (correctly eval") || !strings.Contains(out, "learner_errors@"+short8(versions[0])) {
		t.Errorf("report text has no models section naming the prompt version's column:\n%s", out)
	}
	html := filepath.Join(t.TempDir(), "r.html")
	if _, stderr, code := runCLI(t, "report", "--html", html); code != 0 {
		t.Fatalf("report --html: exit %d\n%s", code, stderr)
	}
	page, _ := os.ReadFile(html)
	if !bytes.Contains(page, []byte(`<a href="#version-`+short8(versions[0])+`">`)) || !bytes.Contains(page, []byte(`id="models"`)) {
		t.Errorf("the report page does not link the model to its prompt version's column")
	}
}

func TestKilledEvalResumesAskingOnlyTheMissingSentences(t *testing.T) {
	bin := buildBinary(t)
	srv := llmtest.New()
	defer srv.Close()
	srv.Latency = 30 * time.Millisecond
	data := t.TempDir()
	env := cliEnv(data, srv.BaseURL())
	var m2 strings.Builder
	for i := range 150 {
		fmt.Fprintf(&m2, "S Sentence %d go to school .\nA 2 3|||R:VERB:SVA|||goes|||REQUIRED|||-NONE-|||0\n\n", i)
	}
	path := filepath.Join(data, "mine.m2")
	os.WriteFile(path, []byte(m2.String()), 0o644)

	ev := exec.Command(bin, "eval", "--m2", path, "--concurrency", "4")
	ev.Env = env
	var stderr bytes.Buffer
	ev.Stderr = &stderr
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for srv.Counts().Answered < 40 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	syscall.Kill(ev.Process.Pid, syscall.SIGKILL)
	ev.Wait()
	if n := srv.Counts().Answered; n < 40 || n >= 150 {
		t.Fatalf("killed after %d answers, want between 40 and 149\n%s", n, stderr.String())
	}
	ctx := context.Background()
	st, err := corpus.Open(ctx, corpus.Options{DataDir: data, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.EvalList(ctx, 0)
	if err != nil || len(evs) != 1 {
		t.Fatalf("evals after the kill = %d, %v; want 1", len(evs), err)
	}
	id := evs[0].ID
	stored, err := st.EvalPredictions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	before := srv.Counts().Requests
	res := exec.Command(bin, "eval", "--resume", id, "--json")
	res.Env = env
	out, err := res.Output()
	if err != nil {
		t.Fatalf("eval --resume %s: %v\n%s", id, err, out)
	}
	e := decodeEval(t, string(out))
	if e.Status != "done" || e.Answered != 150 || e.Recall != 0 {
		t.Errorf("resumed eval = %s, %d answered, recall %v; want done, 150, 0 (the fake changes nothing)", e.Status, e.Answered, e.Recall)
	}
	if asked := srv.Counts().Requests - before; asked != 150-len(stored) {
		t.Errorf("the resume sent %d requests, want %d: one per sentence without a stored answer", asked, 150-len(stored))
	}
}
