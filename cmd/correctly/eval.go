package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/edits"
	"github.com/correctly/correctly/generator"
	"github.com/correctly/correctly/prompts"
	"github.com/correctly/correctly/scoring"
)

func init() { commandFactories = append(commandFactories, newEvalCommand) }

type evalOptions struct {
	Split          string
	M2             string
	TrainRun       string
	Predictions    string
	Model          string
	BaseURL        string
	Prompt         string
	Label          string
	Limit          int
	MaxTokens      int
	Concurrency    int
	MaxConcurrency int
	RPM, TPM       float64
	PriceIn        float64
	PriceOut       float64
	Resume         string
	Types          int
	JSON           bool
}

func newEvalCommand(a *app) *cobra.Command {
	var o evalOptions
	cmd := &cobra.Command{
		Use:   "eval (--split NAME | --m2 FILE) [--model M] [--base-url URL] | --train-run RUN | --resume ID",
		Short: "Evaluate a correction model on a split's test part or gold M2 sentences",
		Long: `Run a correction model over a test set and score its corrections.

The model is any OpenAI-compatible endpoint (--base-url, default OPENAI_BASE_URL; --model, default
CORRECTLY_MODEL): an API model as a baseline, the base model, or the fine-tuned model served by vLLM,
Ollama or llama.cpp. Each sentence is asked with the schema's training template (system + user), so
a fine-tuned model is asked what it was trained on, greedily (temperature 0). Requests are paced,
retried and resumable as in generate: every answer is stored the moment it arrives, and
--resume ID asks only for the sentences without one. The first sentence is asked alone, so that an
unknown model or a bad key is reported before anything else is sent.

Or the answers were made elsewhere: --train-run RUN scores the fine-tuned model's predictions.jsonl
that train.py wrote for the bundle's test part and train pull brought back; --predictions FILE scores
a file of answers (predictions.jsonl, or one corrected sentence a line) against --split or --m2.

Test sets: --split NAME (its test part; the reference is each record's correction) or --m2 FILE
(gold M2, such as the BEA-2019 dev set, or your own learner sentences; sources are detokenized
before the model sees them, and the requests use the train templates of --prompt).

An answer in the trained format is read from its "### 교정 후 ###" section; one without sections
is the corrected text itself. An answer that cannot be read counts as no correction and is listed.

Scores: span precision, recall and F0.5 (an edit is right when a reference has the same start, end
and correction; both sides aligned by correctly's ERRANT-style aligner; with several annotators the
best one per sentence, as the M2 scorer does), per error type; exact-sentence match; over-correction
(the share of sentences needing no edit that the model changed); latency p50/p95; cost; unreadable
answers. Every eval is stored: correctly eval list, correctly eval show ID, and the models section
of correctly report.

Examples:
  correctly eval --m2 ../shared/data/gec/bea-dev.m2 --model gpt-4o-mini --limit 200
  correctly eval --split v1 --base-url http://127.0.0.1:8000/v1 --model my-adapter --train-run run-20261201-120000-ab12cd
  correctly eval --train-run run-20261201-120000-ab12cd
  correctly eval --m2 mine.m2 --predictions answers.txt --label other-system
  correctly eval --resume ev-20261202-101500-3f2a`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runEval(cmd, a, &o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Split, "split", "", "evaluate on the test part of this stored split")
	f.StringVar(&o.M2, "m2", "", "evaluate on the sentences of this gold M2 `FILE`")
	f.StringVar(&o.TrainRun, "train-run", "", "the training `RUN` that made the model: alone, score its pulled predictions.jsonl; with an endpoint, record which prompt versions trained it")
	f.StringVar(&o.Predictions, "predictions", "", "score the answers in `FILE` (predictions.jsonl, or one corrected sentence a line) instead of asking a model")
	f.StringVar(&o.Model, "model", "", "model to ask (default CORRECTLY_MODEL); with --predictions, the name to store")
	f.StringVar(&o.BaseURL, "base-url", "", "OpenAI-compatible API `URL` (default OPENAI_BASE_URL)")
	f.StringVar(&o.Prompt, "prompt", "correction_script", "schema `NAME[@VERSION]` whose train templates ask the M2 sentences")
	f.StringVar(&o.Label, "label", "", "a name for the model in lists and the report")
	f.IntVar(&o.Limit, "limit", 0, "only the first `N` sentences of the test set")
	f.IntVar(&o.MaxTokens, "max-tokens", 1024, "most tokens an answer may have")
	f.IntVar(&o.Concurrency, "concurrency", 0, "fix the number of requests at once (default: adapted to the limits and latency)")
	f.IntVar(&o.MaxConcurrency, "max-concurrency", 0, fmt.Sprintf("upper bound of adaptive concurrency (default %d)", generator.SafetyConcurrency))
	f.Float64Var(&o.RPM, "rpm", 0, "requests per minute limit (default: learnt from the server's x-ratelimit headers)")
	f.Float64Var(&o.TPM, "tpm", 0, "tokens per minute limit (default: learnt from the server's x-ratelimit headers)")
	f.Float64Var(&o.PriceIn, "price-in", -1, "USD per 1M prompt tokens (default: built-in price of the model, else 0)")
	f.Float64Var(&o.PriceOut, "price-out", -1, "USD per 1M completion tokens (default: built-in price of the model, else 0)")
	f.StringVar(&o.Resume, "resume", "", "continue the eval with this `ID`, asking only what is missing")
	f.IntVar(&o.Types, "types", 15, "error types to show, most frequent first")
	f.BoolVar(&o.JSON, "json", false, "print the eval as JSON")
	cmd.AddCommand(newEvalListCommand(a), newEvalShowCommand(a))
	return cmd
}

func newEvalListCommand(a *app) *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List stored evals, newest first",
		Example: `  correctly eval list
  correctly eval list --json | jq '.[] | {id, model, "f0.5"}'`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			evs, err := st.EvalList(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(evs)
			}
			if len(evs) == 0 {
				fmt.Fprintln(a.ErrOut, "no evals yet: run `correctly eval --split NAME` or `correctly eval --m2 FILE`")
				return nil
			}
			tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tMODEL\tTEST SET\tSENTENCES\tP\tR\tF0.5\tOVER-CORR\tSTATUS\tTRAINED ON")
			for _, e := range evs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%.3f\t%.3f\t%.3f\t%.1f%%\t%s\t%s\n", e.ID, evalModelName(&e), testSetName(e.TestSet),
					e.Answered, e.TestSet.Items, e.Precision, e.Recall, e.F05, 100*e.OverCorrection, e.Status, trainedOn(&e))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most `N` evals")
	return cmd
}

func newEvalShowCommand(a *app) *cobra.Command {
	var asJSON bool
	var types int
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one eval: scores, scores per error type, unreadable answers",
		Example: `  correctly eval show ev-20261202-101500-3f2a
  correctly eval show ev-20261202-101500-3f2a --json | jq '{precision, recall, "f0.5"}'`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			ev, err := st.GetEval(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(ev)
			}
			writeEval(a.Out, ev, types)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&types, "types", 15, "error types to show, most frequent first")
	return cmd
}

// evalSet is a test set made ready: its items, the request for each, and where to read each answer.
type evalSet struct {
	corpus.EvalTestSet
	items   []scoring.Item
	reqs    []generator.EvalRequest
	markers []string
	// requestPrompt is the prompt version whose train templates ask M2 sentences
	requestPrompt string
	// plain answers are corrected texts as they are (a text file of one sentence a line), not answers
	// to read
	plain bool
}

func (s *evalSet) limit(n int) {
	if n > 0 && n < len(s.items) {
		s.items, s.reqs, s.markers = s.items[:n], s.reqs[:n], s.markers[:n]
	}
	s.Items = len(s.items)
	s.Hash = scoring.Hash(s.items)
}

func runEval(cmd *cobra.Command, a *app, o *evalOptions) error {
	ctx := cmd.Context()
	if o.Resume != "" {
		return resumeEval(cmd, a, o)
	}
	if o.Split != "" && o.M2 != "" {
		return usagef("give one test set: --split NAME or --m2 FILE")
	}
	if o.Limit < 0 || o.MaxTokens < 1 {
		return usagef("--limit must be 0 or more and --max-tokens at least 1")
	}
	fromFile := o.Predictions != "" || o.TrainRun != "" && o.Split == "" && o.M2 == "" && o.BaseURL == ""
	if !fromFile && o.Split == "" && o.M2 == "" {
		return usagef("say what to evaluate on: --split NAME (its test part), --m2 FILE, or --train-run RUN (its pulled predictions)")
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	var run *corpus.TrainRun
	if o.TrainRun != "" {
		if run, err = st.TrainRun(ctx, o.TrainRun); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	ev := &corpus.Eval{ID: "ev-" + newRunID(now), Label: o.Label, Status: corpus.EvalRunning, CreatedAt: now, UpdatedAt: now}
	if run != nil {
		ev.TrainRun, ev.PromptVersions = run.ID, run.PromptVersions
	}
	if fromFile {
		return evalFromFile(ctx, a, st, o, ev, run)
	}
	set, err := loadEvalSet(ctx, st, o.Split, o.M2, o.Prompt, nil)
	if err != nil {
		return err
	}
	set.limit(o.Limit)
	ev.TestSet, ev.RequestPrompt = set.EvalTestSet, set.requestPrompt
	c, err := a.config()
	if err != nil {
		return err
	}
	base := o.BaseURL
	if base == "" {
		base = c.BaseURL
	}
	if c.APIKey == "" && base == "" {
		return errors.New("no model endpoint: pass --base-url (vLLM, Ollama, llama.cpp) or set OPENAI_BASE_URL, or set OPENAI_API_KEY for OpenAI")
	}
	ev.Model = o.Model
	if ev.Model == "" {
		ev.Model = c.Model
	}
	lc := generator.LLMConfig{BaseURL: base, APIKey: c.APIKey}
	ev.Source, ev.Endpoint, ev.EndpointID = "endpoint", endpointName(base), lc.Fingerprint()
	price, _ := generator.PriceOf(ev.Model)
	if o.PriceIn >= 0 {
		price.In = o.PriceIn
	}
	if o.PriceOut >= 0 {
		price.Out = o.PriceOut
	}
	ev.Settings = corpus.EvalSettings{MaxTokens: o.MaxTokens, Concurrency: o.Concurrency, MaxConcurrency: o.MaxConcurrency,
		RPM: o.RPM, TPM: o.TPM, PriceIn: price.In, PriceOut: price.Out}
	return askAndScore(ctx, a, st, ev, set, lc, true, o)
}

// askAndScore asks the endpoint for every item without an answer, then scores the eval. The first
// missing item is asked alone: a fatal answer (unknown model, bad key) stops the eval before anything
// else is sent, and a new eval is stored only once its first answer came back.
func askAndScore(ctx context.Context, a *app, st *corpus.Store, ev *corpus.Eval, set *evalSet, lc generator.LLMConfig, isNew bool, o *evalOptions) error {
	s := ev.Settings
	ctl := generator.NewControl(generator.ControlConfig{RPM: s.RPM, TPM: s.TPM, Fixed: s.Concurrency, Max: s.MaxConcurrency})
	llm := generator.NewLLM(lc, ctl, a.Log)
	e := generator.NewEvaluator(st, llm, ctl, ev.Model, s.MaxTokens)
	e.Log = a.Log
	var stored []corpus.Prediction
	if !isNew {
		var err error
		if stored, err = st.EvalPredictions(ctx, ev.ID); err != nil {
			return err
		}
	}
	have := map[int]bool{}
	for _, p := range stored {
		have[p.Index] = true
	}
	requests := 0
	for _, r := range set.reqs {
		if have[r.Index] {
			continue
		}
		p, n, err := e.Ask(ctx, ev.ID, r)
		requests += n
		if err != nil {
			var fe *generator.FatalError
			if errors.As(err, &fe) {
				return fmt.Errorf("model %q at %s: %w (--model, --base-url)", ev.Model, ev.Endpoint, err)
			}
			return fmt.Errorf("first request to %s: %w", ev.Endpoint, err)
		}
		if isNew {
			if err := st.CreateEval(ctx, ev); err != nil {
				return err
			}
			isNew = false
		}
		if _, err := st.AddPrediction(ctx, p); err != nil {
			return err
		}
		break
	}
	if isNew { // an empty test set
		if err := st.CreateEval(ctx, ev); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.ErrOut, "eval %s: %s at %s on %s (%d sentences)\n", ev.ID, ev.Model, ev.Endpoint, testSetName(ev.TestSet), ev.TestSet.Items)
	stop := evalProgress(a, ev, e)
	prog, runErr := e.Run(ctx, ev.ID, set.reqs)
	stop()
	ev.Requests += requests + prog.Requests
	ev.Status, ev.Message = prog.Status, prog.Message
	if err := scoreEval(context.WithoutCancel(ctx), st, ev, set); err != nil {
		return err
	}
	if err := printEval(a, ev, o); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	if ev.Status != corpus.EvalDone {
		return errors.New(ev.Message)
	}
	return nil
}

func resumeEval(cmd *cobra.Command, a *app, o *evalOptions) error {
	ctx := cmd.Context()
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	ev, err := st.GetEval(ctx, o.Resume)
	if err != nil {
		return err
	}
	if ev.Source != "endpoint" {
		return fmt.Errorf("eval %s scored answers made elsewhere (%s): there is nothing to ask; run `correctly eval --train-run` or `--predictions` again", ev.ID, ev.Source)
	}
	var set *evalSet
	switch ev.TestSet.Kind {
	case "split":
		set, err = loadEvalSet(ctx, st, ev.TestSet.Name, "", "", nil)
	case "m2":
		set, err = loadEvalSet(ctx, st, "", ev.TestSet.File, ev.RequestPrompt, nil)
	default:
		err = fmt.Errorf("eval %s: unknown test set kind %q", ev.ID, ev.TestSet.Kind)
	}
	if err != nil {
		return err
	}
	set.limit(ev.TestSet.Items)
	if set.Hash != ev.TestSet.Hash {
		return fmt.Errorf("the test set of eval %s (%s) is not the one it started on (its sentences or references changed): start a new eval", ev.ID, testSetName(ev.TestSet))
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	base := o.BaseURL
	if base == "" {
		base = c.BaseURL
	}
	if endpointName(base) != ev.Endpoint {
		return fmt.Errorf("eval %s asked %s, and this would ask %s: pass --base-url (or set OPENAI_BASE_URL) to the eval's endpoint", ev.ID, ev.Endpoint, endpointName(base))
	}
	f := cmd.Flags()
	if f.Changed("concurrency") {
		ev.Settings.Concurrency = o.Concurrency
	}
	if f.Changed("max-concurrency") {
		ev.Settings.MaxConcurrency = o.MaxConcurrency
	}
	if f.Changed("rpm") {
		ev.Settings.RPM = o.RPM
	}
	if f.Changed("tpm") {
		ev.Settings.TPM = o.TPM
	}
	ev.Status = corpus.EvalRunning
	return askAndScore(ctx, a, st, ev, set, generator.LLMConfig{BaseURL: base, APIKey: c.APIKey}, false, o)
}

// evalFromFile scores answers made elsewhere: a train run's pulled predictions.jsonl, or --predictions.
func evalFromFile(ctx context.Context, a *app, st *corpus.Store, o *evalOptions, ev *corpus.Eval, run *corpus.TrainRun) error {
	path := o.Predictions
	if path == "" {
		if run.PulledTo == "" {
			return fmt.Errorf("train run %s has not been pulled: run `correctly train pull %s` first (or pass --predictions FILE)", run.ID, run.ID)
		}
		path = filepath.Join(run.PulledTo, "predictions.jsonl")
	}
	answers, plain, err := readPredictions(path)
	if err != nil {
		return err
	}
	var set *evalSet
	switch {
	case o.Split != "" || o.M2 != "":
		set, err = loadEvalSet(ctx, st, o.Split, o.M2, o.Prompt, nil)
	case run != nil && len(run.TestRecords) > 0:
		set, err = loadEvalSet(ctx, st, run.SplitID, "", "", run.TestRecords)
	case run != nil:
		set, err = setFromPredictions(path, answers, run)
	default:
		return usagef("--predictions needs the test set it answers: --split NAME or --m2 FILE")
	}
	if err != nil {
		return err
	}
	set.limit(o.Limit)
	set.plain = plain
	if len(answers) < len(set.items) {
		return fmt.Errorf("%s has %d answers for the %d sentences of %s: one answer per sentence, in order", path, len(answers), len(set.items), testSetName(set.EvalTestSet))
	}
	if o.Limit == 0 && len(answers) > len(set.items) {
		return fmt.Errorf("%s has %d answers for the %d sentences of %s: is it the answers to another test set?", path, len(answers), len(set.items), testSetName(set.EvalTestSet))
	}
	ev.TestSet, ev.RequestPrompt = set.EvalTestSet, set.requestPrompt
	ev.Source = "file"
	if o.Predictions == "" {
		ev.Source = "train_run"
	}
	ev.Model = o.Model
	if ev.Model == "" && run != nil {
		ev.Model = run.BaseModel + " fine-tuned by " + run.ID
		if run.BaseModel == "" {
			ev.Model = "fine-tuned by " + run.ID
		}
	}
	if ev.Model == "" {
		ev.Model = filepath.Base(path)
	}
	ps := make([]corpus.Prediction, len(set.items))
	for i := range ps {
		ps[i] = corpus.Prediction{EvalID: ev.ID, Index: i, Raw: answers[i], Model: ev.Model}
	}
	if err := st.CreateEval(ctx, ev); err != nil {
		return err
	}
	if _, err := st.AddPredictions(ctx, ps); err != nil {
		return err
	}
	ev.Status = corpus.EvalDone
	if err := scoreEval(ctx, st, ev, set); err != nil {
		return err
	}
	return printEval(a, ev, o)
}

// loadEvalSet builds the test set of a split's test part (or of the given records), or of an M2 file
// asked with the train templates of promptRef.
func loadEvalSet(ctx context.Context, st *corpus.Store, split, m2, promptRef string, ids []string) (*evalSet, error) {
	if m2 != "" {
		return loadM2Set(ctx, st, m2, promptRef)
	}
	set := &evalSet{EvalTestSet: corpus.EvalTestSet{Kind: "split", Name: split, Part: "test"}}
	if ids == nil {
		if _, err := st.GetSplit(ctx, split); err != nil {
			return nil, err
		}
		var err error
		if ids, err = st.SplitMembers(ctx, split, "test"); err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("split %q has no test part: create a split with one, e.g. `correctly split create %s-t --ratios train=0.9,val=0.05,test=0.05`, or evaluate on --m2 FILE", split, split)
		}
	}
	render := newChatRenderer(st)
	missing, err := st.EachRecordByID(ctx, ids, func(r *corpus.Record) error {
		before, _ := r.Fields["before"].(string)
		after, _ := r.Fields["after"].(string)
		if before == "" || after == "" {
			return fmt.Errorf("record %s has no before or after text to evaluate on", r.ID)
		}
		msgs, err := render.render(ctx, r)
		if err != nil {
			return err
		}
		req := generator.EvalRequest{Index: len(set.items)}
		for _, m := range msgs {
			switch m.Role {
			case "system":
				req.System = m.Content
			case "user":
				req.User = m.Content
			}
		}
		set.items = append(set.items, scoring.NewItem(before, after))
		set.reqs = append(set.reqs, req)
		set.markers = append(set.markers, scoring.MarkerOf(render.schemas[r.PromptVersion].Train.Assistant))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if missing > 0 {
		return nil, fmt.Errorf("split %q: %d test records are gone from the corpus", split, missing)
	}
	return set, nil
}

func loadM2Set(ctx context.Context, st *corpus.Store, path, promptRef string) (*evalSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--m2: %w", err)
	}
	defer f.Close()
	sents, err := edits.ReadM2(f)
	var me *edits.M2Error
	if errors.As(err, &me) {
		return nil, fmt.Errorf("%s:%d: %s", path, me.Line, me.Msg)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(sents) == 0 {
		return nil, fmt.Errorf("%s has no sentences: an M2 file has an \"S tokens\" line per sentence", path)
	}
	var schema *prompts.Schema
	if len(promptRef) == 64 && !strings.Contains(promptRef, "@") { // a stored version, on resume
		p, err := st.PromptByVersion(ctx, promptRef)
		if err != nil {
			return nil, err
		}
		schema, err = schemaOf(p)
		if err != nil {
			return nil, err
		}
	} else if schema, err = resolveSchema(ctx, st, promptRef); err != nil {
		return nil, err
	}
	if schema.Train == nil {
		return nil, fmt.Errorf("prompt %s has no train templates to ask the sentences with: add a train: section, or pick another --prompt", schema.Name)
	}
	abs, _ := filepath.Abs(path)
	set := &evalSet{EvalTestSet: corpus.EvalTestSet{Kind: "m2", Name: path, File: abs}, requestPrompt: schema.Version()}
	set.items = scoring.ItemsFromM2(sents)
	marker := scoring.MarkerOf(schema.Train.Assistant)
	for i, it := range set.items {
		data := map[string]any{"slot": i, "seed": int64(0), "negative": false}
		for _, d := range schema.Dimensions {
			data[d.Name] = ""
		}
		for _, fl := range schema.Fields() {
			if fl.Type == prompts.TypeList {
				data[fl.Name] = []string{}
			} else {
				data[fl.Name] = ""
			}
		}
		data["before"] = it.Text
		sys, user, _, err := schema.Train.Render(data)
		if err != nil {
			return nil, fmt.Errorf("ask the M2 sentences with %s's train templates: %w", schema.Name, err)
		}
		set.reqs = append(set.reqs, generator.EvalRequest{Index: i, System: sys, User: user})
		set.markers = append(set.markers, marker)
	}
	return set, nil
}

// setFromPredictions builds the test set of a train run whose bundle did not name its test records:
// the learner's text is the prompt's last user turn, the reference the correction in the data's answer.
func setFromPredictions(path string, answers []string, run *corpus.TrainRun) (*evalSet, error) {
	rows, err := readPredictionRows(path)
	if err != nil {
		return nil, err
	}
	set := &evalSet{EvalTestSet: corpus.EvalTestSet{Kind: "train_run", Name: run.ID, Part: "test"}}
	for i, r := range rows {
		src := ""
		for _, m := range r.Messages {
			if m.Role == "user" {
				src = m.Content
			}
		}
		ref, ok := scoring.ReadAnswer(r.Reference, "")
		if src == "" || !ok {
			return nil, fmt.Errorf("%s:%d: no user message or no correction in the reference: the predictions of an older bundle? write the bundle again with `correctly train bundle`", path, i+1)
		}
		set.items = append(set.items, scoring.NewItem(src, ref))
		set.reqs = append(set.reqs, generator.EvalRequest{Index: i})
		set.markers = append(set.markers, "")
	}
	_ = answers
	return set, nil
}

type predictionRow struct {
	Index    *int `json:"index"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Reference  string  `json:"reference"`
	Prediction *string `json:"prediction"`
}

func readPredictionRows(path string) ([]predictionRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read predictions: %w", err)
	}
	defer f.Close()
	var rows []predictionRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r predictionRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: not a JSON object: %v", path, n, err)
		}
		if r.Prediction == nil {
			return nil, fmt.Errorf("%s:%d: no \"prediction\" field: a line of predictions.jsonl has index, messages, reference and prediction", path, n)
		}
		if r.Index != nil && *r.Index != len(rows) {
			return nil, fmt.Errorf("%s:%d: index %d where %d was expected: the lines must follow the test set in order", path, n, *r.Index, len(rows))
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, n+1, err)
	}
	return rows, nil
}

// readPredictions reads the answers of a predictions file: predictions.jsonl (one JSON object with
// "prediction" a line, answers to read), or plain text (one corrected sentence a line, as it is;
// plain is true).
func readPredictions(path string) (answers []string, plain bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("read predictions: %w", err)
	}
	if strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
		rows, err := readPredictionRows(path)
		if err != nil {
			return nil, false, err
		}
		out := make([]string, len(rows))
		for i, r := range rows {
			out[i] = *r.Prediction
		}
		return out, false, nil
	}
	text := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if strings.TrimSpace(text) == "" {
		return nil, true, fmt.Errorf("%s is empty: write one corrected sentence a line", path)
	}
	return strings.Split(text, "\n"), true, nil
}

// scoreEval scores the stored answers of ev against its test set and saves ev.
func scoreEval(ctx context.Context, st *corpus.Store, ev *corpus.Eval, set *evalSet) error {
	preds, err := st.EvalPredictions(ctx, ev.ID)
	if err != nil {
		return err
	}
	byIndex := make(map[int]*corpus.Prediction, len(preds))
	for i := range preds {
		byIndex[preds[i].Index] = &preds[i]
	}
	sc := scoring.NewScorer()
	var latencies []int64
	var usage corpus.Usage
	unreadable := []corpus.EvalItem{}
	for i, it := range set.items {
		p := byIndex[i]
		if p == nil {
			sc.Skip()
			continue
		}
		text, ok := "", false
		switch {
		case set.plain:
			text, ok = p.Raw, true
		case p.Error == "":
			text, ok = scoring.ReadAnswer(p.Raw, set.markers[i])
		}
		sc.Add(it, text, ok)
		if !ok && len(unreadable) < corpus.MaxListed {
			ans := p.Raw
			if p.Error != "" {
				ans = "(" + p.Error + ")"
			}
			unreadable = append(unreadable, corpus.EvalItem{Index: i, Source: it.Text, Answer: clipRaw(ans, 300)})
		}
		usage = usage.Add(p.Usage)
		if ev.Source == "endpoint" {
			latencies = append(latencies, p.LatencyMS)
		}
	}
	requests := ev.Requests
	ev.EvalScores = sc.Scores()
	ev.Requests, ev.Usage = requests, usage
	ev.Cost = generator.Price{In: ev.Settings.PriceIn, Out: ev.Settings.PriceOut}.Cost(usage.PromptTokens, usage.CompletionTokens)
	ev.LatencyP50MS, ev.LatencyP95MS = nearestRank(latencies, 50), nearestRank(latencies, 95)
	ev.Unreadable = unreadable
	if len(unreadable) == 0 {
		ev.Unreadable = nil
	}
	ev.UpdatedAt = time.Now().UTC()
	return st.SaveEval(ctx, ev)
}

func nearestRank(vs []int64, p float64) int64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]int64(nil), vs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[max(int(math.Ceil(p/100*float64(len(s)))), 1)-1]
}

// clipRaw keeps the first n characters of s, line breaks included.
func clipRaw(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func printEval(a *app, ev *corpus.Eval, o *evalOptions) error {
	if o.JSON {
		return a.printJSON(ev)
	}
	writeEval(a.Out, ev, o.Types)
	return nil
}

func writeEval(w io.Writer, ev *corpus.Eval, types int) {
	fmt.Fprintf(w, "eval %s  %s  %s\n", ev.ID, ev.Status, evalModelName(ev))
	if ev.Endpoint != "" {
		fmt.Fprintf(w, "endpoint %s\n", ev.Endpoint)
	}
	fmt.Fprintf(w, "test set %s: %d of %d sentences answered (hash %s)\n", testSetName(ev.TestSet), ev.Answered, ev.TestSet.Items, short8(ev.TestSet.Hash))
	if t := trainedOn(ev); t != "-" {
		fmt.Fprintf(w, "trained on %s\n", t)
	}
	fmt.Fprintf(w, "span P %.4f  R %.4f  F0.5 %.4f  (tp %d, fp %d, fn %d)\n", ev.Precision, ev.Recall, ev.F05, ev.TP, ev.FP, ev.FN)
	fmt.Fprintf(w, "exact match %.1f%% (%d)  over-correction %.1f%% (%d of %d sentences needing no edit)  unreadable %d\n",
		100*ev.ExactMatch, ev.Exact, 100*ev.OverCorrection, ev.OverCorrected, ev.NoEdit, ev.Unreadables)
	if ev.Source == "endpoint" {
		fmt.Fprintf(w, "latency p50 %.2fs p95 %.2fs  requests %d  tokens %d in / %d out  cost $%.4f\n",
			float64(ev.LatencyP50MS)/1000, float64(ev.LatencyP95MS)/1000, ev.Requests, ev.Usage.PromptTokens, ev.Usage.CompletionTokens, ev.Cost)
	}
	if n := min(types, len(ev.Types)); n > 0 {
		fmt.Fprintf(w, "\nper error type (%d of %d, most frequent in the references first):\n", n, len(ev.Types))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TYPE\tTP\tFP\tFN\tP\tR\tF0.5")
		for _, t := range ev.Types[:n] {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\n", t.Type, t.TP, t.FP, t.FN, t.Precision, t.Recall, t.F05)
		}
		tw.Flush()
	}
	if len(ev.Unreadable) > 0 {
		fmt.Fprintf(w, "\nunreadable answers (scored as no correction; %d of %d listed):\n", len(ev.Unreadable), ev.Unreadables)
		for _, u := range ev.Unreadable {
			fmt.Fprintf(w, "  #%d %q\n     -> %q\n", u.Index, clip(u.Source, 100), clip(u.Answer, 100))
		}
	}
	if ev.Message != "" {
		fmt.Fprintln(w, ev.Message)
	}
}

func evalModelName(e *corpus.Eval) string {
	if e.Label != "" {
		return e.Label
	}
	return e.Model
}

func testSetName(t corpus.EvalTestSet) string {
	switch t.Kind {
	case "m2":
		return "m2 " + filepath.Base(t.Name)
	case "split":
		return "split " + t.Name + "/" + t.Part
	}
	return t.Kind + " " + t.Name
}

func trainedOn(e *corpus.Eval) string {
	if len(e.PromptVersions) == 0 {
		return "-"
	}
	vs := make([]string, len(e.PromptVersions))
	for i, v := range e.PromptVersions {
		vs[i] = short8(v)
	}
	s := strings.Join(vs, ",")
	if e.TrainRun != "" {
		s += " (" + e.TrainRun + ")"
	}
	return s
}

func short8(v string) string {
	if len(v) > 8 {
		return v[:8]
	}
	return v
}

// endpointName is how an eval names its endpoint: the base URL (OpenAI's when empty) without
// credentials.
func endpointName(base string) string {
	if base == "" {
		base = "https://api.openai.com/v1"
	}
	return corpus.RedactURI(strings.TrimRight(base, "/"))
}

// evalProgress shows a bar on a terminal and a log line every 10 s otherwise; the returned func stops it.
func evalProgress(a *app, ev *corpus.Eval, e *generator.Evaluator) func() {
	var mu sync.Mutex
	var last generator.EvalProgress
	e.OnAnswer = func(p generator.EvalProgress) { mu.Lock(); last = p; mu.Unlock() }
	terminal := isTerminal(a.ErrOut)
	every := 10 * time.Second
	var bar *progressbar.ProgressBar
	if terminal {
		every = time.Second
		bar = progressbar.NewOptions(ev.TestSet.Items, progressbar.OptionSetWriter(a.ErrOut), progressbar.OptionSetDescription("answered"),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(20), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	rate := &rateMeter{window: 10 * time.Second}
	show := func() {
		mu.Lock()
		p := last
		mu.Unlock()
		pace := e.Control.Snapshot()
		line := fmt.Sprintf("%d/%d  %.1f req/s  in flight %d/%d", p.Stored, ev.TestSet.Items, rate.add(time.Now(), pace.Answers), pace.InFlight, pace.Concurrency)
		if pace.WaitingFor != "" {
			line += "  waiting for " + pace.WaitingFor
		}
		if terminal {
			bar.Describe("answered  " + line)
			_ = bar.Set(p.Stored)
			return
		}
		a.Log.Info().Str("eval", ev.ID).Int("answered", p.Stored).Int("items", ev.TestSet.Items).Msg(line)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				show()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		if terminal {
			_ = bar.Finish()
			fmt.Fprintln(a.ErrOut)
		}
	}
}
