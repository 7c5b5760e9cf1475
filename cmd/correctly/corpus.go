package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/edits"
	"github.com/correctly/correctly/generator"
	"github.com/correctly/correctly/prompts"
)

func init() { commandFactories = append(commandFactories, newCorpusCommand) }

type recordFilter struct {
	Runs   []string
	Prompt string
	Status string
}

func (f *recordFilter) bind(cmd *cobra.Command, defStatus string) {
	cmd.Flags().StringSliceVar(&f.Runs, "run", nil, "only records of these run `IDs`")
	cmd.Flags().StringVar(&f.Prompt, "prompt", "", "only records of this prompt `NAME[@VERSION]`")
	cmd.Flags().StringVar(&f.Status, "status", defStatus, "only records with this status: accepted, rejected, failed, duplicate (empty = all)")
}

func (f *recordFilter) query() corpus.RecordQuery {
	return corpus.RecordQuery{RunIDs: f.Runs, Prompt: f.Prompt, Status: f.Status}
}

func newCorpusCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "corpus",
		Short: "Look at, count and export generated records",
		Long: `Every finished slot is a record: its dimensions, the fields the LLM wrote (before, after,
translation, points), its status (accepted, rejected, failed, duplicate) with every reason, the
computed edits, and the raw answers with token usage.

Examples:
  correctly corpus list --status rejected
  correctly corpus show 20261128-153000-ab12-00007
  correctly corpus stats --by theme,style
  correctly corpus export --format chat -o train.jsonl`,
	}
	cmd.AddCommand(newCorpusListCommand(a), newCorpusShowCommand(a), newCorpusStatsCommand(a), newCorpusExportCommand(a))
	return cmd
}

type recordRow struct {
	ID      string          `json:"id"`
	RunID   string          `json:"run_id"`
	Status  string          `json:"status"`
	Reasons []corpus.Reason `json:"reasons"`
	Before  string          `json:"before"`
}

func newCorpusListCommand(a *app) *cobra.Command {
	var f recordFilter
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--run RUN] [--prompt P] [--status S]",
		Short: "List records with their status and reasons",
		Example: `  correctly corpus list
  correctly corpus list --status rejected --limit 20
  correctly corpus list --prompt correction_script@1a2b3c4d --json`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			q := f.query()
			q.Limit = limit
			rows := []recordRow{}
			err = st.EachRecord(cmd.Context(), q, func(r *corpus.Record) error {
				rows = append(rows, recordRow{ID: r.ID, RunID: r.RunID, Status: r.Status, Reasons: r.Reasons, Before: fieldText(r.Fields["before"])})
				return nil
			})
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(rows)
			}
			tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tREASONS\tBEFORE")
			for _, r := range rows {
				codes := make([]string, len(r.Reasons))
				for i, x := range r.Reasons {
					codes[i] = x.Code
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Status, strings.Join(codes, ","), clip(r.Before, 60))
			}
			return tw.Flush()
		},
	}
	f.bind(cmd, "")
	cmd.Flags().IntVar(&limit, "limit", 50, "most records to list (0 = all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newCorpusShowCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one record whole: fields, reasons, edits and raw answers",
		Example: `  correctly corpus show 20261128-153000-ab12-00007
  correctly corpus show 20261128-153000-ab12-00007 --json`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			r, err := st.GetRecord(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			// the raw answers live in the steps collection, stored as they arrived
			if steps, err := st.SlotSteps(cmd.Context(), r.RunID, r.Slot); err == nil && len(steps) > 0 {
				r.Steps = steps
			}
			if asJSON {
				return a.printJSON(r)
			}
			w := a.Out
			fmt.Fprintf(w, "record %s  %s  run %s  slot %d  prompt %s@%s\n", r.ID, r.Status, r.RunID, r.Slot, r.Prompt, short(r.PromptVersion))
			fmt.Fprintf(w, "dims: %s\n", formatDims(r.Dims))
			for _, x := range r.Reasons {
				fmt.Fprintf(w, "rejected: %s: %s\n", x.Code, x.Message)
			}
			for _, x := range r.Flags {
				fmt.Fprintf(w, "flag: %s: %s\n", x.Code, x.Message)
			}
			if r.DupOf != "" && r.Distance != nil {
				fmt.Fprintf(w, "duplicate of %s (distance %.3f)\n", r.DupOf, *r.Distance)
			}
			for _, k := range fieldOrder(r.Fields) {
				v := r.Fields[k]
				if isList(v) {
					fmt.Fprintf(w, "\n## %s\n", k)
					for i, it := range listOf(v) {
						fmt.Fprintf(w, "%d. %s\n", i+1, it)
					}
					continue
				}
				fmt.Fprintf(w, "\n## %s\n%s\n", k, fieldText(v))
			}
			if len(r.Edits) > 0 {
				fmt.Fprintf(w, "\n## edits (%d)\n", len(r.Edits))
				for _, e := range r.Edits {
					fmt.Fprintf(w, "%-14s %q → %q\n", e.Type, e.O, e.C)
				}
			}
			for _, s := range r.Steps {
				fmt.Fprintf(w, "\n## answer to step %s (try %d, %s, %d+%d tokens, %dms)\n", s.Step, s.Try, s.Model, s.Usage.PromptTokens, s.Usage.CompletionTokens, s.LatencyMS)
				if s.ParseError != "" {
					fmt.Fprintf(w, "unusable: %s\n", s.ParseError)
				}
				fmt.Fprintln(w, strings.TrimSpace(s.Raw))
			}
			fmt.Fprintf(w, "\ntokens %d in / %d out  cost $%.5f  latency %dms  %d answers stored\n", r.Usage.PromptTokens, r.Usage.CompletionTokens, r.Cost, r.LatencyMS, len(r.Steps))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newCorpusStatsCommand(a *app) *cobra.Command {
	var f recordFilter
	var by []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats [--by dim,...]",
		Short: "Count records by status, reason and dimension values",
		Long: `Count the records the filters select by status, reject reason and, with --by, the values of
dimensions. The counts come from each run's summary, kept up to date as records are written, so a
corpus of a million records is counted as fast as one of ten.`,
		Example: `  correctly corpus stats
  correctly corpus stats --status accepted --by style,speaker
  correctly corpus stats --run 20261128-153000-ab12 --json`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			// counted from the runs' summaries, kept as records are written: no record is read
			v, err := st.CountRecordsBy(cmd.Context(), f.query(), by)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(v)
			}
			fmt.Fprintf(a.Out, "records %d\n", v.Total)
			printCounts(a.Out, "status", v.ByStatus)
			printCounts(a.Out, "reject reason", v.ByReason)
			for _, d := range by {
				printCounts(a.Out, d, v.ByDim[d])
			}
			return nil
		},
	}
	f.bind(cmd, "")
	cmd.Flags().StringSliceVar(&by, "by", nil, "dimensions to count values of")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printCounts(w io.Writer, title string, m map[string]int) {
	if len(m) == 0 {
		return
	}
	keys := sortedKeys(m)
	sort.SliceStable(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	fmt.Fprintf(w, "\n%s:\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%d\n", k, m[k])
	}
	tw.Flush()
}

func newCorpusExportCommand(a *app) *cobra.Command {
	var f recordFilter
	var format, out string
	cmd := &cobra.Command{
		Use:   "export --format raw|chat|m2 [-o FILE]",
		Short: "Write records as JSONL (raw or chat) or M2",
		Example: `  correctly corpus export --format chat -o train.jsonl
  correctly corpus export --format raw --status rejected --prompt correction_script
  correctly corpus export --format m2 --run 20261128-153000-ab12 -o gold.m2`,
		Long: `raw:  one JSON object per record: id, run_id, prompt, dims, status, reasons, fields, created_at.
chat: {"messages": [system, user, assistant]} from the schema's train templates, for fine-tuning.
m2:   the awkward text tokenised, with the computed edits, so ERRANT's scorer can audit them.
A file given with -o is written whole or not at all.`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			n := 0
			err = writeAtomic(a.Out, out, func(w io.Writer) error {
				var err error
				n, err = exportRecords(cmd.Context(), st, f.query(), format, w)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.ErrOut, "exported %d records\n", n)
			return nil
		},
	}
	f.bind(cmd, corpus.StatusAccepted)
	cmd.Flags().StringVar(&format, "format", "raw", "raw, chat or m2")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` instead of stdout")
	return cmd
}

type rawRecord struct {
	ID        string            `json:"id"`
	RunID     string            `json:"run_id"`
	Prompt    string            `json:"prompt"`
	Version   string            `json:"prompt_version"`
	Dims      map[string]string `json:"dims"`
	Status    string            `json:"status"`
	Reasons   []corpus.Reason   `json:"reasons"`
	Fields    map[string]any    `json:"fields"`
	Edits     []corpus.Edit     `json:"edits,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

// Message is one chat turn of the chat export.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatRenderer renders records as chat examples, with each prompt version's train templates.
type chatRenderer struct {
	st      *corpus.Store
	schemas map[string]*prompts.Schema
}

func newChatRenderer(st *corpus.Store) *chatRenderer {
	return &chatRenderer{st: st, schemas: map[string]*prompts.Schema{}}
}

func (c *chatRenderer) render(ctx context.Context, r *corpus.Record) ([]Message, error) {
	s, ok := c.schemas[r.PromptVersion]
	if !ok {
		p, err := c.st.PromptByVersion(ctx, r.PromptVersion)
		if err != nil {
			return nil, err
		}
		if s, err = schemaOf(p); err != nil {
			return nil, err
		}
		c.schemas[r.PromptVersion] = s
	}
	if s.Train == nil {
		return nil, fmt.Errorf("prompt %s@%s has no train templates: add a train: section with system, user and assistant", s.Name, short(s.Version()))
	}
	data := map[string]any{}
	for k, v := range r.Dims {
		data[k] = v
	}
	for _, f := range s.Fields() {
		if f.Type == prompts.TypeList {
			data[f.Name] = []string{}
		} else {
			data[f.Name] = ""
		}
	}
	for k, v := range r.Fields {
		if isList(v) {
			data[k] = listOf(v)
		} else {
			data[k] = v
		}
	}
	data["slot"], data["seed"], data["negative"] = r.Slot, int64(0), r.Negative
	sys, user, asst, err := s.Train.Render(data)
	if err != nil {
		return nil, fmt.Errorf("render train templates for %s: %w", r.ID, err)
	}
	var msgs []Message
	if sys != "" {
		msgs = append(msgs, Message{"system", sys})
	}
	return append(msgs, Message{"user", user}, Message{"assistant", asst}), nil
}

func exportRecords(ctx context.Context, st *corpus.Store, q corpus.RecordQuery, format string, w io.Writer) (int, error) {
	return writeRecords(ctx, st, format, w, func(fn func(*corpus.Record) error) error {
		return st.EachRecord(ctx, q, fn)
	})
}

// writeRecords writes the records that each yields in one of the export formats: raw or chat JSONL,
// or M2.
func writeRecords(ctx context.Context, st *corpus.Store, format string, w io.Writer, each func(func(*corpus.Record) error) error) (int, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	chat := newChatRenderer(st)
	n := 0
	var write func(r *corpus.Record) error
	switch format {
	case "raw":
		write = func(r *corpus.Record) error {
			return enc.Encode(rawRecord{ID: r.ID, RunID: r.RunID, Prompt: r.Prompt, Version: r.PromptVersion, Dims: r.Dims,
				Status: r.Status, Reasons: nonNil(r.Reasons), Fields: plainFields(r.Fields), Edits: r.Edits, CreatedAt: r.CreatedAt})
		}
	case "chat":
		write = func(r *corpus.Record) error {
			msgs, err := chat.render(ctx, r)
			if err != nil {
				return err
			}
			return enc.Encode(map[string]any{"messages": msgs})
		}
	case "m2":
		write = func(r *corpus.Record) error {
			return edits.WriteM2(bw, edits.Tokenize(fieldText(r.Fields["before"])), generator.FromCorpusEdits(r.Edits))
		}
	default:
		return 0, usagef("--format %q: use raw, chat or m2", format)
	}
	err := each(func(r *corpus.Record) error {
		n++
		return write(r)
	})
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// writeAtomic writes to path through a temporary file renamed into place, so a failure leaves nothing
// half-written; with no path it writes to stdout.
func writeAtomic(stdout io.Writer, path string, fn func(io.Writer) error) error {
	if path == "" || path == "-" {
		return fn(stdout)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := fn(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func nonNil(r []corpus.Reason) []corpus.Reason {
	if r == nil {
		return []corpus.Reason{}
	}
	return r
}

// plainFields turns stored BSON arrays into plain lists for JSON.
func plainFields(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if isList(v) {
			out[k] = listOf(v)
		} else {
			out[k] = v
		}
	}
	return out
}

func fieldText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	if isList(v) {
		return strings.Join(listOf(v), "\n")
	}
	return fmt.Sprint(v)
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// fieldOrder lists a record's fields the way the seed reads them (교정 전, 교정 후, 해석, 교정 지점),
// then any others by name.
func fieldOrder(fields map[string]any) []string {
	var out []string
	for _, k := range []string{"before", "after", "translation", "points"} {
		if _, ok := fields[k]; ok {
			out = append(out, k)
		}
	}
	for _, k := range sortedKeys(fields) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
