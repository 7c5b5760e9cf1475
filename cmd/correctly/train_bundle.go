package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/trainer"
)

type bundleOptions struct {
	Split     string
	Runs      []string
	Prompt    string
	ValRatio  float64
	BaseModel string
	Method    string
	Epochs    int
	BatchSize int
	LR        float64
	Seed      int64
	Out       string
	NoDryRun  bool
	JSON      bool
}

func newTrainBundleCommand(a *app) *cobra.Command {
	var o bundleOptions
	cmd := &cobra.Command{
		Use:   "bundle --split NAME | (--run R | --prompt P) --base-model HF_ID -o DIR",
		Short: "Write a self-contained training bundle from accepted records",
		Long: `Write DIR with data/train.jsonl and data/val.jsonl (chat format from the schema's train
templates; data/test.jsonl too when the split has a test part, which train.py predicts into
output/predictions.jsonl), config.json, train.py (SFT with transformers + peft, LoRA by default),
requirements.txt, run.sh (the remote entry), watchdog.py (max duration, stall watchdog, stopping
the box) and manifest.json (SHA-256 of every file, dataset hash, prompt versions, counts, split).
The same inputs give byte-identical files. When python3 is here, train.py --dry-run
checks the data and config before you rent a GPU.

Records come from a stored split (--split, see correctly split create), or from runs or a prompt
with a seeded random validation part (--val-ratio), recorded as such in the manifest.

Examples:
  correctly train bundle --prompt correction_script --base-model Qwen/Qwen2.5-0.5B-Instruct -o bundle
  correctly train bundle --split v1 --base-model meta-llama/Llama-3.2-1B-Instruct --epochs 2 -o bundle
then: correctly train push --bundle bundle --host user@gpu-box:22`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrainBundle(cmd, a, &o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Split, "split", "", "use the train and val parts of this stored split")
	f.StringSliceVar(&o.Runs, "run", nil, "records of these run `IDs`")
	f.StringVar(&o.Prompt, "prompt", "", "records of this prompt `NAME[@VERSION]`")
	f.Float64Var(&o.ValRatio, "val-ratio", 0.05, "share of records held out for validation (without --split)")
	f.StringVar(&o.BaseModel, "base-model", "", "Hugging Face `ID` of the model to fine-tune (required)")
	f.StringVar(&o.Method, "method", "lora", "lora or full")
	f.IntVar(&o.Epochs, "epochs", 3, "training epochs")
	f.IntVar(&o.BatchSize, "batch-size", 8, "per-device batch size")
	f.Float64Var(&o.LR, "lr", 2e-4, "learning rate")
	f.Int64Var(&o.Seed, "seed", 42, "seed for the random split and for training")
	f.StringVarP(&o.Out, "output", "o", "", "bundle `DIR` to write (required)")
	f.BoolVar(&o.NoDryRun, "no-dry-run", false, "skip python3 train.py --dry-run")
	f.BoolVar(&o.JSON, "json", false, "print the manifest as JSON")
	return cmd
}

func runTrainBundle(cmd *cobra.Command, a *app, o *bundleOptions) error {
	ctx := cmd.Context()
	if o.Out == "" {
		return usagef("-o DIR is required")
	}
	if o.BaseModel == "" {
		return usagef("--base-model is required: a Hugging Face model id, e.g. Qwen/Qwen2.5-0.5B-Instruct")
	}
	if o.Split == "" && len(o.Runs) == 0 && o.Prompt == "" {
		return usagef("say which records: --split NAME, --run RUN or --prompt NAME")
	}
	if o.ValRatio < 0 || o.ValRatio >= 1 {
		return usagef("--val-ratio %g: use a share in [0, 1)", o.ValRatio)
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	var trainRecs, valRecs, testRecs []corpus.Record
	spec := trainer.BundleSpec{}
	if o.Split != "" {
		trainRecs, valRecs, testRecs, err = splitRecords(cmd, st, o.Split)
		if err != nil {
			return err
		}
		spec.SplitID, spec.SplitKind = o.Split, "split"
	} else {
		recs, err := st.Records(ctx, corpus.RecordQuery{RunIDs: o.Runs, Prompt: o.Prompt, Status: corpus.StatusAccepted, Project: true})
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return errors.New("no accepted records match: check --run/--prompt with `correctly corpus stats`")
		}
		trainRecs, valRecs = randomSplit(recs, o.ValRatio, o.Seed)
		spec.SplitID = fmt.Sprintf("random:seed=%d:val=%g", o.Seed, o.ValRatio)
		spec.SplitKind = "random"
	}
	render := newChatRenderer(st)
	versions := map[string]bool{}
	var created time.Time
	toExamples := func(recs []corpus.Record) ([]trainer.Example, error) {
		out := make([]trainer.Example, 0, len(recs))
		for i := range recs {
			msgs, err := render.render(ctx, &recs[i])
			if err != nil {
				return nil, err
			}
			ex := trainer.Example{Messages: make([]trainer.Message, len(msgs))}
			for j, m := range msgs {
				ex.Messages[j] = trainer.Message{Role: m.Role, Content: m.Content}
			}
			out = append(out, ex)
			versions[recs[i].PromptVersion] = true
			if recs[i].CreatedAt.After(created) {
				created = recs[i].CreatedAt
			}
		}
		return out, nil
	}
	if spec.Train, err = toExamples(trainRecs); err != nil {
		return err
	}
	if spec.Val, err = toExamples(valRecs); err != nil {
		return err
	}
	if spec.Test, err = toExamples(testRecs); err != nil {
		return err
	}
	for _, r := range testRecs {
		spec.TestRecords = append(spec.TestRecords, r.ID)
	}
	spec.PromptVersions = sortedKeys(versions)
	spec.Created = created.UTC()
	spec.ToolVersion = version
	spec.Config = trainer.TrainConfig{BaseModel: o.BaseModel, Method: o.Method, Epochs: o.Epochs, BatchSize: o.BatchSize, LearningRate: o.LR, Seed: o.Seed}
	m, err := trainer.WriteBundle(o.Out, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.ErrOut, "bundle %s: %d train, %d val, %d test examples\n", o.Out, len(spec.Train), len(spec.Val), len(spec.Test))
	if !o.NoDryRun {
		if _, err := exec.LookPath("python3"); err == nil {
			out, err := trainer.DryRun(ctx, o.Out)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.ErrOut, "%s", lastLines(out, 3))
		} else {
			fmt.Fprintln(a.ErrOut, "python3 not found: skipped train.py --dry-run")
		}
	}
	if o.JSON {
		return a.printJSON(m)
	}
	fmt.Fprintf(a.Out, "%s\n", o.Out)
	fmt.Fprintf(a.ErrOut, "next: correctly train push --bundle %s --host user@gpu-box[:port]\n", o.Out)
	return nil
}

// randomSplit holds out a seeded random share of records for validation (at least one when there are
// two or more), in a deterministic order.
func randomSplit(recs []corpus.Record, ratio float64, seed int64) (train, val []corpus.Record) {
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5b1d))
	perm := rng.Perm(len(recs))
	nVal := int(float64(len(recs))*ratio + 0.5)
	if nVal == 0 && ratio > 0 && len(recs) >= 2 {
		nVal = 1
	}
	isVal := make([]bool, len(recs))
	for _, p := range perm[:nVal] {
		isVal[p] = true
	}
	for i, r := range recs {
		if isVal[i] {
			val = append(val, r)
		} else {
			train = append(train, r)
		}
	}
	return train, val
}

// splitRecords loads the records of a stored split's train, val and test parts (test may be empty).
func splitRecords(cmd *cobra.Command, st *corpus.Store, name string) (train, val, test []corpus.Record, err error) {
	load := func(part string) ([]corpus.Record, error) {
		ids, err := st.SplitMembers(cmd.Context(), name, part)
		if err != nil {
			return nil, err
		}
		var out []corpus.Record
		_, err = st.EachRecordByID(cmd.Context(), ids, func(r *corpus.Record) error {
			out = append(out, *r)
			return nil
		})
		return out, err
	}
	if train, err = load("train"); err != nil {
		return nil, nil, nil, err
	}
	if val, err = load("val"); err != nil {
		return nil, nil, nil, err
	}
	if test, err = load("test"); err != nil {
		return nil, nil, nil, err
	}
	if len(train) == 0 {
		return nil, nil, nil, fmt.Errorf("split %q has no train part: create it with --ratios train=...,val=...", name)
	}
	return train, val, test, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}
