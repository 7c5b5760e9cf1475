package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/correctly/correctly/edits"
)

func init() { commandFactories = append(commandFactories, newEditsCommand) }

func newEditsCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "edits",
		Short: "Compute typed edits between a text and its correction, and score against M2",
		Long: `Edits are what actually changed between an awkward text and its correction: token spans aligned
ERRANT-style and typed on ERRANT's labels (R:VERB:SVA, M:DET, U:PUNCT, R:ORTH, R:WO, ...), with
M/R/U for missing, replaced and unnecessary. Every record stores its edits, and the claims validator
checks the LLM's correction points against them.

Examples:
  correctly edits diff "He don't like apple." "He doesn't like apples."
  correctly edits eval --m2 bea-dev.m2`,
	}
	var asJSON bool
	diff := &cobra.Command{
		Use:   "diff BEFORE AFTER",
		Short: "Print the typed edits between two texts",
		Example: `  correctly edits diff "I am agree with you." "I agree with you."
  correctly edits diff "Yesterday I go to Busan." "Yesterday I went to Busan." --json`,
		Args: wrapArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			es := edits.Extract(args[0], args[1])
			if asJSON {
				if es == nil {
					es = []edits.Edit{}
				}
				return a.printJSON(es)
			}
			if len(es) == 0 {
				fmt.Fprintln(a.ErrOut, "no edits: the texts are the same token for token")
				return nil
			}
			edits.Format(a.Out, edits.Tokenize(args[0]), edits.Tokenize(args[1]), es)
			return nil
		},
	}
	diff.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var m2 string
	var evalJSON bool
	eval := &cobra.Command{
		Use:   "eval --m2 FILE",
		Short: "Score edit extraction against an M2 file's gold edits (annotator 0)",
		Example: `  correctly edits eval --m2 ../shared/data/gec/bea-dev.m2
  correctly edits eval --m2 gold.m2 --json`,
		Long: `Build each corrected sentence from annotator 0's gold edits, extract edits from (original,
corrected), and report span precision, recall and F1 (span and correction must match) and the
type accuracy among matched spans.`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if m2 == "" {
				return usagef("--m2 FILE is required")
			}
			f, err := os.Open(m2)
			if err != nil {
				return err
			}
			defer f.Close()
			sents, err := edits.ReadM2(f)
			if err != nil {
				return fmt.Errorf("%s: %w", m2, err)
			}
			s := edits.Evaluate(sents)
			if evalJSON {
				return a.printJSON(s)
			}
			fmt.Fprintf(a.Out, "sentences %d  gold edits %d  extracted %d  matched %d\n", s.Sentences, s.Gold, s.Pred, s.SpanTP)
			fmt.Fprintf(a.Out, "span P %.4f  R %.4f  F1 %.4f  type accuracy %.4f\n", s.P, s.R, s.F1, s.TypeAcc)
			return nil
		},
	}
	eval.Flags().StringVar(&m2, "m2", "", "M2 `FILE` with gold edits")
	eval.Flags().BoolVar(&evalJSON, "json", false, "print JSON")
	cmd.AddCommand(diff, eval)
	return cmd
}
