package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/generator"
	"github.com/correctly/correctly/prompts"
	"github.com/correctly/correctly/vectors"
)

func init() {
	commandFactories = append(commandFactories, newRunsCommand, newInitCommand)
}

func newInitCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the store, its indexes and the built-in prompt schemas",
		Example: `  correctly init
  MONGODB_URI=mongodb://127.0.0.1:27017 correctly init --json`,
		Long: `Create the data directory (embedded store and index) or connect to MONGODB_URI, create every
index, and store the built-in prompt schemas (correction_script). Safe to run again.`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.config()
			if err != nil {
				return err
			}
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			builtin, err := prompts.Builtin()
			if err != nil {
				return err
			}
			var added []promptView
			for _, s := range builtin {
				isNew, err := storePrompt(cmd.Context(), st, s)
				if err != nil {
					return err
				}
				added = append(added, promptView{Name: s.Name, Version: s.Version(), New: isNew})
			}
			where := st.Where
			if st.Embedded {
				if err := os.MkdirAll(filepath.Join(c.DataDir, "exports"), 0o700); err != nil {
					return err
				}
			}
			migration, now := st.Migrated, st.Migrated != nil
			if migration == nil {
				if migration, err = st.PastMigration(cmd.Context()); err != nil {
					return err
				}
			}
			// the embedded vector index of an earlier version (one index.gob) is converted when opened
			var vectorsConverted *vectorConversion
			if c.ChromaURL == "" {
				idx, err := a.index(cmd.Context())
				if err != nil {
					return err
				}
				if e, ok := idx.(*vectors.Embedded); ok {
					kept := filepath.Join(c.DataDir, "vectors", "index.gob.migrated")
					if e.Migrated > 0 {
						vectorsConverted = &vectorConversion{Vectors: e.Migrated, KeptAs: kept, Now: true}
					} else if _, err := os.Stat(kept); err == nil {
						vectorsConverted = &vectorConversion{Vectors: -1, KeptAs: kept}
					}
				}
			}
			if asJSON {
				return a.printJSON(map[string]any{"store": where, "embedded": st.Embedded, "prompts": added, "migration": migration, "vector_migration": vectorsConverted})
			}
			fmt.Fprintf(a.Out, "store: %s\n", where)
			if migration != nil {
				when := "migrated"
				if !now {
					when = "migrated on " + migration.At.Local().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(a.Out, "%s the embedded store of an earlier version: %s (the old files are kept in %s)\n",
					when, migrationCounts(migration.Documents), migration.KeptAs)
			}
			if v := vectorsConverted; v != nil && v.Now {
				fmt.Fprintf(a.Out, "converted the embedded vector index of an earlier version: %d vectors (the old file is kept as %s)\n", v.Vectors, v.KeptAs)
			} else if v != nil {
				fmt.Fprintf(a.Out, "the embedded vector index was converted from an earlier version (the old file is kept as %s)\n", v.KeptAs)
			}
			for _, p := range added {
				state := "present"
				if p.New {
					state = "added"
				}
				fmt.Fprintf(a.Out, "prompt %s@%s %s\n", p.Name, short(p.Version), state)
			}
			fmt.Fprintln(a.ErrOut, "next: correctly prompts render correction_script -n 2, then correctly generate -n 20")
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// vectorConversion is what opening the embedded vector index converted from an earlier version's
// index.gob: now, or (Vectors -1, unknown) on an earlier open.
type vectorConversion struct {
	Vectors int    `json:"vectors"`
	KeptAs  string `json:"kept_as"`
	Now     bool   `json:"now"`
}

// migrationCounts lists the documents moved per collection, records first.
func migrationCounts(docs map[string]int) string {
	names := make([]string, 0, len(docs))
	for n := range docs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == corpus.Records) != (names[j] == corpus.Records) {
			return names[i] == corpus.Records
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%d %s", docs[n], n)
	}
	return strings.Join(parts, ", ")
}

func newRunsCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List runs and show their counters",
	}
	var asJSON bool
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Example: `  correctly runs list
  correctly runs list --limit 10 --json`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			runs, err := st.RunList(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(runs)
			}
			tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPROMPT\tBACKEND\tTARGET\tSTATUS\tCREATED")
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s@%s\t%s\t%d\t%s\t%s\n", r.ID, r.Prompt, r.PromptVersion[:8], r.Backend, r.Target, r.Status, r.CreatedAt.Local().Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.Flags().IntVar(&limit, "limit", 50, "most runs to list (0 = all)")

	var showJSON bool
	show := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run's settings and counters, derived from its records",
		Example: `  correctly runs show 20261128-153000-ab12
  correctly runs show 20261128-153000-ab12 --json`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			run, err := st.GetRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			stats, err := runStats(cmd, st, run)
			if err != nil {
				return err
			}
			batches, err := st.RunBatches(cmd.Context(), run.ID)
			if err != nil {
				return err
			}
			if showJSON {
				return a.printJSON(map[string]any{"run": run, "stats": stats, "batches": batches})
			}
			fmt.Fprintf(a.Out, "prompt %s@%s  backend %s  model %s  seed %d  max attempts %d\n", run.Prompt, short(run.PromptVersion), run.Backend, run.Model, run.Seed, run.MaxAttempts)
			fmt.Fprintf(a.Out, "created %s  updated %s\n", run.CreatedAt.Local().Format(time.DateTime), run.UpdatedAt.Local().Format(time.DateTime))
			writeSummary(a.Out, stats, run)
			if len(batches) > 0 {
				tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "BATCH\tSTATE\tSTATUS\tLINES\tCOMPLETED\tFAILED\tANSWERED\tAGE")
				for _, b := range batches {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", orDash(b.BatchID), b.State, orDash(b.Status), b.Lines, b.Completed, b.Failed, b.Answered, time.Since(b.CreatedAt).Round(time.Second))
				}
				return tw.Flush()
			}
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	cancel := &cobra.Command{
		Use:     "cancel RUN",
		Short:   "Cancel the provider batches of a --batch run (answers already read stay stored)",
		Example: `  correctly runs cancel 20261128-153000-ab12`,
		Args:    wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			run, err := st.GetRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			c, err := a.config()
			if err != nil {
				return err
			}
			n, err := generator.CancelBatches(cmd.Context(), generator.LLMConfig{BaseURL: c.BaseURL, APIKey: c.APIKey}, st, run.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Out, "cancelled %d batches of run %s\n", n, run.ID)
			if n > 0 {
				fmt.Fprintf(a.ErrOut, "answers already in them are read, and the rest sent again, by `correctly generate --resume %s`\n", run.ID)
			}
			return nil
		},
	}
	cmd.AddCommand(list, show, cancel)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runStats gives a run's counters from its summary, kept as its records were written: one small read
// whatever the run's size.
func runStats(cmd *cobra.Command, st *corpus.Store, run *corpus.Run) (generator.Stats, error) {
	sum, err := st.RunSummary(cmd.Context(), run.ID)
	if err != nil {
		return generator.Stats{}, err
	}
	s := generator.Stats{RunID: run.ID, Target: run.Target, Reasons: map[string]int{}, Status: run.Status, Message: run.Message,
		Accepted: sum.Status[corpus.StatusAccepted], Rejected: sum.Status[corpus.StatusRejected],
		Failed: sum.Status[corpus.StatusFailed], Duplicate: sum.Status[corpus.StatusDuplicate],
		Usage: sum.Usage, Cost: sum.Cost}
	for _, byCode := range sum.Reasons {
		for code, n := range byCode {
			s.Reasons[code] += n
		}
	}
	s.WallS = run.UpdatedAt.Sub(run.CreatedAt).Seconds()
	return s, nil
}
