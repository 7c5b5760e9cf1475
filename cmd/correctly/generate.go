package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/generator"
	"github.com/correctly/correctly/prompts"
)

func init() { commandFactories = append(commandFactories, newGenerateCommand) }

type generateOptions struct {
	Prompt         string
	N              int
	Seed           int64
	Concurrency    int
	MaxConcurrency int
	RPM, TPM       float64
	MaxCost        float64
	MaxAttempts    int
	DryRun         bool
	JSON           bool
	Resume         string
	Model          string
	PriceIn        float64
	PriceOut       float64
	ParseRetries   int
	Backend        string
	Source         string
	DedupThreshold float64
	NoDedup        bool
	Batch          bool
	NoWait         bool
	BatchPoll      time.Duration
	BatchLines     int
}

func newGenerateCommand(a *app) *cobra.Command {
	var o generateOptions
	cmd := &cobra.Command{
		Use:   "generate --prompt NAME[@VERSION] -n N | --resume RUN",
		Short: "Generate N accepted records from a prompt schema",
		Long: `Generate records until N are accepted. Each slot samples the schema's dimensions from (seed, slot),
runs the steps against the LLM, checks the answer with the schema's validators and the corpus-wide
dedup, and stores the outcome. Rejected slots are refilled until N are accepted or --max-attempts
slots were tried.

Nothing is lost or paid twice: every answer is stored the moment it arrives, and a run interrupted
in any way (Ctrl-C, kill -9, a lost network) continues exactly where it stopped with --resume.
Several processes may work on one run at once against a MongoDB server (with CHROMA_URL for dedup).

The LLM is any OpenAI-compatible server: set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL for vLLM,
Ollama or llama.cpp. --backend rules needs neither: it injects labelled learner errors into clean
text offline.

Pacing needs no tuning. The request and token limits come from --rpm/--tpm or, when not given, from
the x-ratelimit-* headers the provider sends (OpenAI, Azure, Groq, Together, OpenRouter); workers
on one run divide the given limits, workers on one key divide the advertised ones. Requests in
flight follow the limit times the observed latency (Little's law); with no limit known (vLLM,
Ollama, llama.cpp, TGI) concurrency searches for the server's best throughput. A 429 slows the run
down and loses nothing; a 429 for an exhausted quota, a bad key or an unknown model stops it at
once, resumable. When most requests fail, the run waits and probes the API for up to 10 minutes
before it stops, resumable.

Examples:
  correctly generate --prompt correction_script -n 20 --dry-run
  correctly generate --prompt correction_script -n 500 --max-cost 2
  correctly generate -n 500 --rpm 500 --tpm 200000       # a tier's limits, shared by the run's workers
  OPENAI_BASE_URL=http://127.0.0.1:8000/v1 correctly generate -n 2000   # a local vLLM, at its best concurrency
  correctly generate --resume 20261128-153000-ab12
  correctly generate --backend rules -n 200
  correctly generate -n 50000 --batch --no-wait         # half price; collect with --resume RUN`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGenerate(cmd, a, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Prompt, "prompt", "correction_script", "prompt schema `NAME[@VERSION]` or a YAML file (learner_errors with --backend rules)")
	f.IntVarP(&o.N, "n", "n", 10, "number of accepted records to aim for")
	f.Int64Var(&o.Seed, "seed", 0, "sampling seed (default: random, recorded on the run)")
	f.IntVar(&o.Concurrency, "concurrency", 0, "fix the number of slots worked on at once (default: adapted to the limits and latency)")
	f.IntVar(&o.MaxConcurrency, "max-concurrency", 0, fmt.Sprintf("upper bound of adaptive concurrency (default %d)", generator.SafetyConcurrency))
	f.Float64Var(&o.RPM, "rpm", 0, "requests per minute limit, divided among the run's workers (default: learnt from the server's x-ratelimit headers)")
	f.Float64Var(&o.TPM, "tpm", 0, "tokens per minute limit, divided among the run's workers (default: learnt from the server's x-ratelimit headers)")
	f.Float64Var(&o.MaxCost, "max-cost", 0, "stop claiming slots before spending more than this many USD (0 = no cap)")
	f.IntVar(&o.MaxAttempts, "max-attempts", 0, "most slots to try (default 3N)")
	f.BoolVar(&o.DryRun, "dry-run", false, "make no request: show sampled prompts and estimate tokens and cost")
	f.BoolVar(&o.JSON, "json", false, "print the summary as JSON")
	f.StringVar(&o.Resume, "resume", "", "continue the run with this `ID`")
	f.StringVar(&o.Model, "model", "", "model to use (default: the schema's params.model, or CORRECTLY_MODEL)")
	f.Float64Var(&o.PriceIn, "price-in", -1, "USD per 1M prompt tokens (default: built-in price of the model)")
	f.Float64Var(&o.PriceOut, "price-out", -1, "USD per 1M completion tokens (default: built-in price of the model)")
	f.IntVar(&o.ParseRetries, "parse-retries", 2, "times a malformed answer is asked again before the slot is rejected")
	f.StringVar(&o.Backend, "backend", "llm", "generation backend: llm or rules")
	f.StringVar(&o.Source, "source", "", "rules backend input: a FILE of clean text (one per line), `corpus`, or empty for the bundled texts")
	f.Float64Var(&o.DedupThreshold, "dedup-threshold", 0, "cosine distance under which a record is a near-duplicate (default: the schema's, else the embedder's calibrated one)")
	f.BoolVar(&o.NoDedup, "no-dedup", false, "skip the duplicate checks against the corpus (exact and near)")
	f.BoolVar(&o.Batch, "batch", false, "send the requests through the provider's Batch API: half the price, answers within 24 h")
	f.BoolVar(&o.NoWait, "no-wait", false, "with --batch: submit the batches and return; collect later with --resume")
	f.DurationVar(&o.BatchPoll, "batch-poll", 30*time.Second, "with --batch: how often batches are polled")
	f.IntVar(&o.BatchLines, "batch-max-lines", 50000, "with --batch: most requests in one batch")
	return cmd
}

// rulesConcurrency is how many slots the offline rules backend works on at once.
const rulesConcurrency = 8

func newRunID(now time.Time) string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

func runGenerate(cmd *cobra.Command, a *app, o *generateOptions) error {
	ctx := cmd.Context()
	c, err := a.config()
	if err != nil {
		return err
	}
	if o.Backend != "llm" && o.Backend != "rules" {
		return usagef("--backend %q: use llm or rules", o.Backend)
	}
	if o.Resume == "" && o.N < 1 {
		return usagef("-n must be at least 1")
	}
	if (o.NoWait || cmd.Flags().Changed("batch-poll") || cmd.Flags().Changed("batch-max-lines")) && !o.Batch && o.Resume == "" {
		return usagef("--no-wait, --batch-poll and --batch-max-lines go with --batch")
	}
	if o.Batch && o.Backend != "llm" {
		return usagef("--batch needs --backend llm")
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	var run *corpus.Run
	var schema *prompts.Schema
	if o.Resume != "" {
		if run, err = st.GetRun(ctx, o.Resume); err != nil {
			return err
		}
		p, err := st.PromptByVersion(ctx, run.PromptVersion)
		if err != nil {
			return err
		}
		if schema, err = schemaOf(p); err != nil {
			return err
		}
		applyResumeOverrides(cmd, o, run)
		if err := st.UpdateRunSettings(ctx, run); err != nil {
			return err
		}
	} else {
		if o.Backend == "rules" && !cmd.Flags().Changed("prompt") {
			o.Prompt = "learner_errors"
		}
		if schema, err = resolveSchema(ctx, st, o.Prompt); err != nil {
			return err
		}
		run = newRun(cmd, o, schema, c)
	}
	model := run.Model
	price := generator.Price{In: run.Settings.PriceIn, Out: run.Settings.PriceOut}

	if o.DryRun {
		return dryRun(ctx, a, schema, run, price, o.JSON)
	}

	var backend generator.Backend
	ccfg := generator.ControlConfig{RPM: run.Settings.RPM, TPM: run.Settings.TPM, Fixed: run.Settings.Concurrency, Max: run.Settings.MaxConcurrency}
	if run.Backend == "rules" && ccfg.Fixed == 0 {
		ccfg.Fixed = rulesConcurrency // offline work: no latency to adapt to
	}
	ctl := generator.NewControl(ccfg)
	endpoint := ""
	var batcher *generator.Batcher
	switch run.Backend {
	case "rules":
		rb, err := a.rulesBackend(ctx, run)
		if err != nil {
			return err
		}
		backend = rb
	default:
		if c.APIKey == "" && c.BaseURL == "" {
			return errors.New("no LLM configured: set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL for a local server (vLLM, Ollama, llama.cpp); try --dry-run to see the prompts, or --backend rules to generate offline")
		}
		lc := generator.LLMConfig{BaseURL: c.BaseURL, APIKey: c.APIKey}
		endpoint = lc.Fingerprint()
		llm := generator.NewLLM(lc, ctl, a.Log)
		ex, err := a.examplesFunc(ctx, schema)
		if err != nil {
			return err
		}
		lb := &generator.LLMBackend{LLM: llm, Schema: schema, Model: model, ParseRetries: run.Settings.ParseRetries, Examples: ex}
		if run.Settings.Batch {
			if os.Getenv("GOGC") == "" {
				// every slot of a batch waits at once: the live heap is large, and main's sparse
				// collection would let the process grow to five times it
				debug.SetGCPercent(100)
			}
			batcher = generator.NewBatcher(lc, st, run, schema, price, a.Log)
			batcher.Poll = o.BatchPoll
			if run.Settings.BatchLines > 0 {
				batcher.MaxLines = run.Settings.BatchLines
			}
			batcher.Spent = func() float64 {
				sum, err := st.RunCounts(context.WithoutCancel(ctx), run.ID)
				if err != nil {
					return 0
				}
				return sum.Cost
			}
			lb.Batch = batcher
			// every slot waits on its batch at once: as many as one batch holds
			n := max(1, min(run.Target, batcher.MaxLines))
			ctl = generator.NewControl(generator.ControlConfig{Fixed: n, Max: n})
		}
		backend = lb
	}
	if o.Resume == "" {
		if err := st.CreateRun(ctx, run); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.ErrOut, "run %s: %s@%s, aiming at %d accepted (seed %d, backend %s)\n", run.ID, run.Prompt, short(run.PromptVersion), run.Target, run.Seed, run.Backend)

	runCtx := ctx
	if batcher != nil {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithCancel(ctx)
		defer cancel()
		if err := batcher.Start(runCtx); err != nil {
			return err
		}
		if o.NoWait {
			batcher.OnSubmit = func(b *corpus.Batch, queued int) {
				if queued == 0 {
					cancel() // everything asked is out: leave the batches to the provider
				}
			}
		}
	}
	r := generator.NewRunner(st, schema, backend, ctl)
	r.Log = a.Log
	r.Price = price
	r.Endpoint = endpoint
	if !o.NoDedup {
		if r.Dedup, err = a.dedup(ctx, schema, run); err != nil {
			return err
		}
	}
	stop := a.progress(run, r)
	stats, runErr := r.Run(runCtx, run)
	stop()
	if batcher != nil && errors.Is(runErr, generator.ErrInterrupted) {
		batcher.Wait()
		n := batcher.Sent()
		if o.NoWait && ctx.Err() == nil {
			stats.Status = "submitted"
			stats.Message = fmt.Sprintf("%d requests are out in batches; collect the answers with `correctly generate --resume %s` (progress: `correctly runs show %s`)", n, run.ID, run.ID)
			runErr = nil
		} else {
			stats.Message = fmt.Sprintf("interrupted; the provider's batches keep running: collect them with `correctly generate --resume %s`, or cancel them with `correctly runs cancel %s`", run.ID, run.ID)
		}
	}
	if err := printSummary(a, o.JSON, stats, run); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	switch stats.Status {
	case corpus.RunDone:
		return nil
	case corpus.RunBudgetExhausted, corpus.RunPaused, corpus.RunExhausted:
		return errors.New(stats.Message)
	}
	return nil
}

// applyResumeOverrides lets a resume raise caps or change pacing; everything else stays as started.
func applyResumeOverrides(cmd *cobra.Command, o *generateOptions, run *corpus.Run) {
	f := cmd.Flags()
	if f.Changed("max-cost") {
		run.Settings.MaxCost = o.MaxCost
	}
	if f.Changed("max-attempts") {
		run.MaxAttempts = o.MaxAttempts
	}
	if f.Changed("concurrency") {
		run.Settings.Concurrency = o.Concurrency
	}
	if f.Changed("max-concurrency") {
		run.Settings.MaxConcurrency = o.MaxConcurrency
	}
	if f.Changed("rpm") {
		run.Settings.RPM = o.RPM
	}
	if f.Changed("tpm") {
		run.Settings.TPM = o.TPM
	}
	discount := 1.0
	if run.Settings.Batch {
		discount = generator.BatchDiscount // --price-in/--price-out are online prices
	}
	if f.Changed("price-in") {
		run.Settings.PriceIn = o.PriceIn * discount
	}
	if f.Changed("price-out") {
		run.Settings.PriceOut = o.PriceOut * discount
	}
	if f.Changed("batch-max-lines") {
		run.Settings.BatchLines = o.BatchLines
	}
}

func newRun(cmd *cobra.Command, o *generateOptions, s *prompts.Schema, c *config) *corpus.Run {
	now := time.Now().UTC()
	seed := o.Seed
	if !cmd.Flags().Changed("seed") {
		seed = time.Now().UnixNano() % (1 << 31)
	}
	model := o.Model
	if model == "" {
		model = modelOverride(c)
	}
	if model == "" {
		model = s.Params.Model
	}
	if model == "" {
		model = c.Model
	}
	if o.Backend == "rules" {
		model = ""
	}
	price, _ := generator.PriceOf(model)
	if o.PriceIn >= 0 {
		price.In = o.PriceIn
	}
	if o.PriceOut >= 0 {
		price.Out = o.PriceOut
	}
	if o.Batch {
		price.In, price.Out = price.In*generator.BatchDiscount, price.Out*generator.BatchDiscount
	}
	maxAttempts := o.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 3 * o.N
	}
	return &corpus.Run{
		ID: newRunID(now), Prompt: s.Name, PromptVersion: s.Version(), Backend: o.Backend,
		Target: o.N, Seed: seed, MaxAttempts: maxAttempts, Model: model, Status: corpus.RunRunning,
		CreatedAt: now, UpdatedAt: now,
		Settings: corpus.Settings{
			Concurrency: o.Concurrency, MaxConcurrency: o.MaxConcurrency, RPM: o.RPM, TPM: o.TPM,
			MaxCost: o.MaxCost, PriceIn: price.In, PriceOut: price.Out, ParseRetries: o.ParseRetries,
			Source: o.Source, DedupThreshold: o.DedupThreshold, Embedder: c.Embedder,
			Batch: o.Batch, BatchLines: o.BatchLines,
		},
	}
}

type dryRunView struct {
	Prompt           string         `json:"prompt"`
	Version          string         `json:"version"`
	Model            string         `json:"model"`
	N                int            `json:"n"`
	Seed             int64          `json:"seed"`
	Slots            []renderedSlot `json:"sample"`
	PromptTokens     int            `json:"est_prompt_tokens"`
	CompletionTokens int            `json:"est_completion_tokens"`
	Cost             float64        `json:"est_cost_usd"`
	PriceKnown       bool           `json:"price_known"`
}

// dryRun shows what a run would ask and estimates its size for N accepted records, assuming one in
// five slots is refilled.
func dryRun(ctx context.Context, a *app, s *prompts.Schema, run *corpus.Run, price generator.Price, asJSON bool) error {
	ex, err := a.examplesFunc(ctx, s)
	if err != nil {
		return err
	}
	slots, err := renderSlots(ctx, s, run.Seed, min(run.Target, 3), run.Model, ex)
	if err != nil {
		return err
	}
	// estimate over a larger sample of slots than the ones shown
	sample, err := renderSlots(ctx, s, run.Seed, min(run.Target, 50), run.Model, nil)
	if err != nil {
		return err
	}
	promptTok, complTok := 0, 0
	for _, rs := range sample {
		prevCompletion := 0
		for i, st := range rs.Steps {
			p := s.StepParams(&s.Steps[i])
			completion := max(p.MaxTokens/3, 150)
			promptTok += generator.EstimateTokens(st.System) + generator.EstimateTokens(st.User) + prevCompletion
			complTok += completion
			prevCompletion = completion
		}
	}
	scale := float64(run.Target) * 1.25 / float64(len(sample))
	v := dryRunView{
		Prompt: s.Name, Version: s.Version(), Model: run.Model, N: run.Target, Seed: run.Seed, Slots: slots,
		PromptTokens: int(float64(promptTok) * scale), CompletionTokens: int(float64(complTok) * scale),
	}
	_, v.PriceKnown = generator.PriceOf(run.Model)
	v.PriceKnown = v.PriceKnown || price.In > 0 || price.Out > 0
	v.Cost = price.Cost(v.PromptTokens, v.CompletionTokens)
	if asJSON {
		return a.printJSON(v)
	}
	fmt.Fprintf(a.Out, "# dry run: %s@%s, model %s, seed %d: no request is made\n\n", s.Name, short(s.Version()), run.Model, run.Seed)
	printRendered(a, slots)
	fmt.Fprintf(a.Out, "estimate for %d accepted records (about %d slots): %d prompt + %d completion tokens", run.Target, int(float64(run.Target)*1.25), v.PromptTokens, v.CompletionTokens)
	if v.PriceKnown && run.Settings.Batch {
		fmt.Fprintf(a.Out, ", about $%.4f at the Batch API's rate (half the online price)\n", v.Cost)
	} else if v.PriceKnown {
		fmt.Fprintf(a.Out, ", about $%.4f\n", v.Cost)
	} else {
		fmt.Fprintf(a.Out, "; no built-in price for %q: pass --price-in and --price-out for a cost\n", run.Model)
	}
	return nil
}

// progress shows a bar on a terminal and a log line every 10 s otherwise; the returned func stops it.
// Both say the same: accepted/target, requests/s against the limit in force, requests in flight,
// the share of 429s, ETA, cost so far, and what the run is waiting for.
func (a *app) progress(run *corpus.Run, r *generator.Runner) func() {
	var mu sync.Mutex
	var last generator.Stats
	seen := false
	reqRate, accRate := &rateMeter{window: 10 * time.Second}, &rateMeter{window: time.Minute}
	r.OnProgress = func(s generator.Stats) { mu.Lock(); last, seen = s, true; mu.Unlock() }
	snapshot := func() (generator.Stats, generator.Pace, bool) {
		mu.Lock()
		defer mu.Unlock()
		return last, r.Control.Snapshot(), seen
	}
	terminal := isTerminal(a.ErrOut)
	every := 10 * time.Second
	var bar *progressbar.ProgressBar
	if terminal {
		every = time.Second
		bar = progressbar.NewOptions(run.Target,
			progressbar.OptionSetWriter(a.ErrOut), progressbar.OptionSetDescription("accepted"),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(20), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	show := func() {
		s, p, ok := snapshot()
		if !ok {
			s = generator.Stats{Target: run.Target}
		}
		now := time.Now()
		line := progressLine(s, p, reqRate.add(now, p.Answers), accRate.add(now, s.Accepted))
		if terminal {
			bar.Describe("accepted  " + line)
			_ = bar.Set(min(s.Accepted, run.Target))
			return
		}
		a.Log.Info().Str("run", run.ID).Int("accepted", s.Accepted).Int("target", run.Target).Msg(line)
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

// progressLine renders one progress line from the recent requests/s and accepted records/s.
func progressLine(s generator.Stats, p generator.Pace, reqRate, accRate float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d", s.Accepted, s.Target)
	if n := s.Rejected + s.Duplicate + s.Failed; n > 0 {
		fmt.Fprintf(&b, " (rejected %d, dup %d, failed %d)", s.Rejected, s.Duplicate, s.Failed)
	}
	fmt.Fprintf(&b, "  %.1f records/s", accRate)
	if p.Answers == 0 && p.RPM == 0 && p.TPM == 0 {
		// an offline backend, or no answer yet: nothing to say about requests
		if left := s.Target - s.Accepted; left > 0 && accRate > 0 {
			fmt.Fprintf(&b, "  ETA %s", (time.Duration(float64(left) / accRate * float64(time.Second))).Round(time.Second))
		}
		fmt.Fprintf(&b, "  $%.4f", s.Cost)
		return b.String()
	}
	fmt.Fprintf(&b, "  %.1f req/s", reqRate)
	switch {
	case p.RPM > 0 && p.TPM > 0:
		fmt.Fprintf(&b, " of %.1f (%.0f rpm, %.0f tpm, %s)", p.RPM/60, p.RPM, p.TPM, p.LimitSource)
	case p.RPM > 0:
		fmt.Fprintf(&b, " of %.1f (%.0f rpm, %s)", p.RPM/60, p.RPM, p.LimitSource)
	case p.TPM > 0:
		fmt.Fprintf(&b, " (%.0f tpm, %s)", p.TPM, p.LimitSource)
	default:
		b.WriteString(" (no limit known)")
	}
	if p.Share > 0 && p.Share < 1 {
		fmt.Fprintf(&b, " share %.2f", p.Share)
	}
	fmt.Fprintf(&b, "  in flight %d/%d", p.InFlight, p.Concurrency)
	if p.RateLimited > 0 {
		fmt.Fprintf(&b, "  429 %.0f%%", 100*p.Recent429)
	}
	if left := s.Target - s.Accepted; left > 0 && accRate > 0 {
		eta := time.Duration(float64(left) / accRate * float64(time.Second))
		fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
	}
	fmt.Fprintf(&b, "  $%.4f", s.Cost)
	if p.WaitingFor != "" {
		fmt.Fprintf(&b, "  waiting for %s", p.WaitingFor)
	}
	return b.String()
}

// rateMeter turns a growing count into a rate over the last window.
type rateMeter struct {
	window time.Duration
	t      []time.Time
	n      []int
}

func (m *rateMeter) add(now time.Time, n int) float64 {
	m.t, m.n = append(m.t, now), append(m.n, n)
	for len(m.t) > 2 && now.Sub(m.t[1]) >= m.window {
		m.t, m.n = m.t[1:], m.n[1:]
	}
	dt := now.Sub(m.t[0]).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(n-m.n[0]) / dt
}

func printSummary(a *app, asJSON bool, s generator.Stats, run *corpus.Run) error {
	if asJSON {
		return a.printJSON(s)
	}
	writeSummary(a.Out, s, run)
	return nil
}

func writeSummary(w io.Writer, s generator.Stats, run *corpus.Run) {
	fmt.Fprintf(w, "run %s  %s  %.1fs\n", s.RunID, s.Status, s.WallS)
	fmt.Fprintf(w, "accepted %d/%d  rejected %d  failed %d  duplicate %d\n", s.Accepted, s.Target, s.Rejected, s.Failed, s.Duplicate)
	if len(s.Reasons) > 0 {
		keys := make([]string, 0, len(s.Reasons))
		for k := range s.Reasons {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return s.Reasons[keys[i]] > s.Reasons[keys[j]] || (s.Reasons[keys[i]] == s.Reasons[keys[j]] && keys[i] < keys[j])
		})
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, s.Reasons[k])
		}
		fmt.Fprintf(w, "reject reasons: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "requests %d  tokens %d in / %d out  cost $%.4f\n", s.Requests, s.Usage.PromptTokens, s.Usage.CompletionTokens, s.Cost)
	if p := s.Pace; p.Answers > 0 {
		limit := "no limit known"
		if p.RPM > 0 || p.TPM > 0 {
			limit = fmt.Sprintf("limit %.0f rpm / %.0f tpm from %s", p.RPM, p.TPM, p.LimitSource)
		}
		fmt.Fprintf(w, "%.2f req/s (%s)  429s %d of %d answers  latency p90 %.2fs  concurrency %d\n",
			s.RequestsPerS, limit, p.RateLimited, p.Answers, p.LatencyP90, p.Concurrency)
	}
	if s.Message != "" {
		fmt.Fprintln(w, s.Message)
	}
	_ = run
}
