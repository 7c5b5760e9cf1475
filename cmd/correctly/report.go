package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/prompts"
	"github.com/correctly/correctly/report"
)

func init() { commandFactories = append(commandFactories, newReportCommand) }

type reportOptions struct {
	Prompts   []string
	Runs      []string
	JSON      bool
	HTML      string
	Title     string
	BatchSize int
	Field     string
}

func newReportCommand(a *app) *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report [--prompt P[@V]...] [--run R...] [--json] [--html FILE]",
		Short: "Compare prompt versions: outcomes, cost, latency, diversity, dimension coverage and edits",
		Long: `One column per prompt version, over every record (or those of --prompt and --run):
attempts, accepted, reject rate per reason, duplicate rate, cost per accepted record, tokens,
latency p50/p95; diversity of the texts per batch of accepted records (distinct-1/2/3, gzip
compression ratio, share of the most common first three words); how the dimension values of
accepted records follow the schema's weights (chi-square p); edit types and edits per record; the
share of negatives (records asking for no correction) when a schema has them; and the models
evaluated with correctly eval: a leaderboard per test set and F0.5 per error type, each model linked
to the prompt versions whose records trained it.

--html writes the same as one self-contained page with charts (no network needed to view it).

Examples:
  correctly report
  correctly report --prompt correction_script --html report.html
  correctly report --prompt correction_script@1a2b3c4d --prompt correction_script@5e6f7a8b --json`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Prompts, "prompt", nil, "only records of this prompt `NAME[@VERSION]` (repeatable)")
	f.StringSliceVar(&o.Runs, "run", nil, "only records of these run `IDs` (repeatable)")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	f.StringVar(&o.HTML, "html", "", "also write the report as a self-contained HTML page to `FILE`")
	f.StringVar(&o.Title, "title", "correctly: prompt versions compared", "title of the HTML page")
	f.IntVar(&o.BatchSize, "batch-size", report.DefaultBatchSize, "accepted records per diversity batch")
	f.StringVar(&o.Field, "field", "before", "text `field` whose diversity is measured")
	return cmd
}

func runReport(ctx context.Context, a *app, o reportOptions) error {
	if o.BatchSize < 1 {
		return usagef("--batch-size must be at least 1")
	}
	for _, p := range o.Prompts {
		if name, ver, ok := strings.Cut(p, "@"); name == "" || ok && ver == "" {
			return usagef("--prompt %q: give NAME or NAME@VERSION", p)
		}
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	rep, err := buildReport(ctx, st, o)
	if err != nil {
		return err
	}
	if len(rep.Columns) == 0 {
		return errors.New("no records match: generate some first, or check --prompt and --run (`correctly corpus stats` counts them)")
	}
	if o.HTML != "" {
		err := writeAtomic(a.Out, o.HTML, func(w io.Writer) error { return report.WriteHTML(w, rep, o.Title) })
		if err != nil {
			return fmt.Errorf("write %s: %w", o.HTML, err)
		}
		if o.HTML != "-" {
			// a page to open and share: readable like any document, not private like a temporary file
			if err := os.Chmod(o.HTML, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.ErrOut, "wrote %s\n", o.HTML)
		}
	}
	if o.JSON {
		return a.printJSON(rep)
	}
	writeReport(a.Out, rep)
	return nil
}

// buildReport streams the selected records into a report and attaches each version's schema.
func buildReport(ctx context.Context, st *corpus.Store, o reportOptions) (*report.Report, error) {
	b := report.NewBuilder(report.Options{BatchSize: o.BatchSize, Field: o.Field})
	queries := []corpus.RecordQuery{{RunIDs: o.Runs}}
	if len(o.Prompts) > 0 {
		queries = queries[:0]
		for _, p := range o.Prompts {
			queries = append(queries, corpus.RecordQuery{RunIDs: o.Runs, Prompt: p})
		}
	}
	// several --prompt filters may select a record twice; one filter never does, and then no
	// record ID is held
	var seen map[string]bool
	if len(queries) > 1 {
		seen = map[string]bool{}
	}
	versions := map[string]bool{}
	for _, q := range queries {
		err := st.EachRecord(ctx, q, func(r *corpus.Record) error {
			if seen != nil {
				if seen[r.ID] {
					return nil
				}
				seen[r.ID] = true
			}
			versions[r.PromptVersion] = true
			r.Steps = nil
			b.Add(r)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	schemas := map[string]*prompts.Schema{}
	for v := range versions {
		p, err := st.PromptByVersion(ctx, v)
		if errors.Is(err, corpus.ErrNotFound) {
			continue // records of a version no longer stored: no coverage for it
		}
		if err != nil {
			return nil, err
		}
		s, err := schemaOf(p)
		if err != nil {
			return nil, err
		}
		schemas[v] = s
	}
	rep := b.Report(schemas)
	evs, err := st.EvalList(ctx, 0)
	if err != nil {
		return nil, err
	}
	rep.AddModels(evs)
	return rep, nil
}

func writeReport(w io.Writer, rep *report.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := []string{"METRIC"}
	for _, c := range rep.Columns {
		header = append(header, report.ColumnName(c))
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	section := ""
	for _, r := range rep.Rows() {
		if r.Section != section {
			section = r.Section
			fmt.Fprintf(tw, "%s:\t\n", section)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", r.Label, strings.Join(r.Cells, "\t"))
	}
	tw.Flush()
	if len(rep.Models) == 0 {
		return
	}
	header, rows := rep.ModelRows()
	fmt.Fprintln(w, "\nmodels (correctly eval; ranked by F0.5 on each test set):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}
