package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/splits"
	"github.com/correctly/correctly/vectors"
)

func init() { commandFactories = append(commandFactories, newSplitCommand) }

func newSplitCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "split",
		Short: "Divide accepted records into train/val/test parts without near-duplicate leakage",
		Long: `A split divides the accepted records into named parts once and for all: it is stored in MongoDB
(a splits document and one split_members document per record) and never changes; a new division
needs a new name.

Near-duplicates (records whose texts are within the dedup distance, the same embedder and fields
the dedup uses) are linked into clusters, and each cluster goes wholly into one part, so no
near-duplicate of a training record is evaluated on. Parts hold every --stratify dimension value
in proportion, within a tolerance. The same records and seed always give the same split.

Examples:
  correctly split create v1 --ratios train=0.9,val=0.05,test=0.05 --seed 1 --stratify theme
  correctly split show v1
  correctly split check v1
  correctly split export v1 --part train --format chat -o train.jsonl`,
	}
	cmd.AddCommand(newSplitCreateCommand(a), newSplitListCommand(a), newSplitShowCommand(a),
		newSplitCheckCommand(a), newSplitExportCommand(a))
	return cmd
}

type splitCreateOptions struct {
	Ratios    string
	Seed      int64
	Prompt    string
	Runs      []string
	GroupBy   string
	Stratify  []string
	Tolerance float64
	Threshold float64
	JSON      bool
}

func newSplitCreateCommand(a *app) *cobra.Command {
	var o splitCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME --ratios train=0.9,val=0.05,test=0.05 --seed S [--prompt P] [--run R] [--group-by cluster|key_expression|none] [--stratify dim,...]",
		Short: "Divide the accepted records into parts and store the split under NAME",
		Example: `  correctly split create v1 --ratios train=0.9,val=0.05,test=0.05 --seed 1
  correctly split create unseen --group-by key_expression --stratify style --prompt correction_script
  correctly split create small --ratios train=0.8,test=0.2 --run 20261128-153000-ab12 --json`,
		Long: `--group-by cluster (the default) keeps near-duplicate clusters in one part; key_expression also
keeps every record of one key expression together (a test part of unseen expressions); none places
records one by one (near-duplicates may then cross parts: split check will say so).`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSplitCreate(cmd.Context(), a, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Ratios, "ratios", "train=0.9,val=0.05,test=0.05", "parts and their shares, `PART=SHARE,...`")
	f.Int64Var(&o.Seed, "seed", 1, "random seed: the same records and seed give the same split")
	f.StringVar(&o.Prompt, "prompt", "", "only records of this prompt `NAME[@VERSION]`")
	f.StringSliceVar(&o.Runs, "run", nil, "only records of these run `IDs`")
	f.StringVar(&o.GroupBy, "group-by", splits.GroupCluster, "what stays in one part: cluster, key_expression or none")
	f.StringSliceVar(&o.Stratify, "stratify", nil, "`dimensions` whose values each part holds in proportion")
	f.Float64Var(&o.Tolerance, "tolerance", splits.DefaultTolerance, "relative deviation from a stratum's target allowed per part, beyond one record of rounding")
	f.Float64Var(&o.Threshold, "threshold", 0, "near-duplicate cosine `distance`; 0 uses the dedup threshold of the records' schemas")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

// splitSource returns the near-duplicate settings for records of the given prompt versions: the
// configured embedder, the union of their schemas' dedup fields and the largest of their thresholds
// (the most cautious), with the index made whole for each schema.
func (a *app) splitSource(ctx context.Context, versions []string, threshold float64) (splits.Source, error) {
	st, err := a.store(ctx)
	if err != nil {
		return splits.Source{}, err
	}
	src := splits.Source{Store: st}
	for _, v := range versions {
		p, err := st.PromptByVersion(ctx, v)
		if err != nil {
			return src, err
		}
		s, err := schemaOf(p)
		if err != nil {
			return src, err
		}
		d, err := a.openDedup(ctx, s, threshold)
		if err != nil {
			return src, err
		}
		src.Index, src.Embedder = d.Index, d.Embedder
		src.Threshold = max(src.Threshold, d.Threshold)
		for _, f := range d.Fields {
			if !slices.Contains(src.Fields, f) {
				src.Fields = append(src.Fields, f)
			}
		}
	}
	if src.Index == nil {
		idx, err := a.index(ctx)
		if err != nil {
			return src, err
		}
		emb, err := a.embedder()
		if err != nil {
			return src, err
		}
		src.Index, src.Embedder = idx, emb
		if src.Threshold = threshold; threshold <= 0 {
			src.Threshold = vectors.DefaultThreshold(emb.ID())
		}
	}
	return src, nil
}

func runSplitCreate(ctx context.Context, a *app, name string, o splitCreateOptions) error {
	ratios, err := splits.ParseRatios(o.Ratios)
	if err != nil {
		return usagef("--ratios: %v", err)
	}
	switch o.GroupBy {
	case splits.GroupCluster, splits.GroupKeyExpression, splits.GroupNone:
	default:
		return usagef("--group-by %q: use cluster, key_expression or none", o.GroupBy)
	}
	if o.Tolerance <= 0 {
		return usagef("--tolerance must be above 0")
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	if _, err := st.GetSplit(ctx, name); err == nil {
		return fmt.Errorf("split %q: %w: splits are immutable, pick another name (`correctly split list` shows the taken ones)", name, corpus.ErrSplitExists)
	}
	src := splits.Source{Store: st}
	if o.GroupBy != splits.GroupNone {
		versions, err := st.PromptVersions(ctx, corpus.RecordQuery{Status: corpus.StatusAccepted, Prompt: o.Prompt, RunIDs: o.Runs})
		if err != nil {
			return err
		}
		if src, err = a.splitSource(ctx, versions, o.Threshold); err != nil {
			return err
		}
	}
	if o.GroupBy != splits.GroupNone {
		// say what takes a while on a large corpus
		if n, err := st.CountRecords(ctx, corpus.RecordQuery{Status: corpus.StatusAccepted, Prompt: o.Prompt, RunIDs: o.Runs}); err == nil && n >= 100000 {
			a.Log.Info().Str("split", name).Int64("records", n).Float64("threshold", src.Threshold).
				Msg("finding near-duplicate pairs")
		}
	}
	c, err := splits.Create(ctx, src, splits.Request{Name: name, Prompt: o.Prompt, Runs: o.Runs, Options: splits.Options{
		Ratios: ratios, Seed: o.Seed, GroupBy: o.GroupBy, Stratify: o.Stratify, Tolerance: o.Tolerance,
	}})
	if err != nil {
		return err
	}
	sp := c.Split
	if !sp.WithinTol {
		fmt.Fprintf(a.ErrOut, "warning: split %s deviates from its strata targets by up to %.1f%% (tolerance %.1f%%): groups too large for the small parts; see `correctly split show %s`\n",
			sp.ID, 100*sp.MaxDeviation, 100*sp.Tolerance, sp.ID)
	}
	if o.JSON {
		return a.printJSON(sp)
	}
	if sp.GroupBy == splits.GroupNone {
		fmt.Fprintf(a.Out, "split %s: %d records placed one by one (group-by none: near-duplicates may cross parts)\n", sp.ID, sp.Records)
	} else {
		fmt.Fprintf(a.Out, "split %s: %d records in %d groups (largest %d, %d near-duplicate pairs)\n", sp.ID, sp.Records, sp.Groups, sp.LargestGroup, sp.NearPairs)
	}
	fmt.Fprintf(a.Out, "parts: %s\n", formatParts(sp))
	if len(sp.Stratify) > 0 {
		fmt.Fprintf(a.Out, "stratified by %s: max deviation %.1f%% (tolerance %.1f%%)\n", strings.Join(sp.Stratify, ","), 100*sp.MaxDeviation, 100*sp.Tolerance)
	}
	return nil
}

func formatParts(sp *corpus.Split) string {
	parts := make([]string, len(sp.Ratios))
	for i, r := range sp.Ratios {
		parts[i] = fmt.Sprintf("%s %d", r.Part, sp.Counts[r.Part])
	}
	return strings.Join(parts, ", ")
}

func newSplitListCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the stored splits",
		Example: `  correctly split list
  correctly split list --json`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			sps, err := st.SplitList(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(sps)
			}
			tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tRECORDS\tPARTS\tGROUP-BY\tSTRATIFY\tSEED\tCREATED")
			for i := range sps {
				sp := &sps[i]
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\n", sp.ID, sp.Records, formatParts(sp), sp.GroupBy,
					strings.Join(sp.Stratify, ","), sp.Seed, sp.CreatedAt.Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// maxShownValues caps the values listed per dimension by split show.
const maxShownValues = 25

func newSplitShowCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Count a split's records per part and per dimension value",
		Example: `  correctly split show v1
  correctly split show v1 --json`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			sum, err := splits.Summarize(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(sum)
			}
			writeSplitSummary(a.Out, sum)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeSplitSummary(w io.Writer, sum *splits.Summary) {
	sp := sum.Split
	fmt.Fprintf(w, "split %s  created %s  seed %d  group-by %s", sp.ID, sp.CreatedAt.Format("2006-01-02 15:04"), sp.Seed, sp.GroupBy)
	if sp.GroupBy != splits.GroupNone {
		fmt.Fprintf(w, " (%s on %s, distance ≤ %.3f)", sp.Embedder, strings.Join(sp.Fields, ","), sp.Threshold)
	}
	fmt.Fprintln(w)
	if sp.Prompt != "" || len(sp.Runs) > 0 {
		fmt.Fprintf(w, "records of prompt %q runs %v\n", sp.Prompt, sp.Runs)
	}
	if sp.GroupBy == splits.GroupNone {
		fmt.Fprintf(w, "%d records, placed one by one\n", sp.Records)
	} else {
		fmt.Fprintf(w, "%d records, %d groups (largest %d), %d near-duplicate pairs\n", sp.Records, sp.Groups, sp.LargestGroup, sp.NearPairs)
	}
	if sum.Missing > 0 {
		fmt.Fprintf(w, "%d member records are no longer in the store\n", sum.Missing)
	}
	parts := make([]string, len(sp.Ratios))
	for i, r := range sp.Ratios {
		parts[i] = r.Part
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tPART\tRECORDS\tSHARE\tTARGET\t\n")
	total := 0
	for _, p := range parts {
		total += sum.Parts[p]
	}
	ratioSum := 0.0
	for _, r := range sp.Ratios {
		ratioSum += r.Ratio
	}
	for _, r := range sp.Ratios {
		fmt.Fprintf(tw, "\t%s\t%d\t%s\t%.1f%%\t\n", r.Part, sum.Parts[r.Part], pct(sum.Parts[r.Part], total), 100*r.Ratio/ratioSum)
	}
	tw.Flush()
	if len(sp.Stratify) > 0 {
		fmt.Fprintf(w, "stratified by %s: max deviation %.1f%% (tolerance %.1f%%)\n", strings.Join(sp.Stratify, ","), 100*sp.MaxDeviation, 100*sp.Tolerance)
	}
	for _, d := range sortedKeys(sum.Dims) {
		byVal := sum.Dims[d]
		vals := sortedKeys(byVal)
		totals := map[string]int{}
		for _, v := range vals {
			for _, n := range byVal[v] {
				totals[v] += n
			}
		}
		sort.SliceStable(vals, func(i, j int) bool { return totals[vals[i]] > totals[vals[j]] })
		mark := ""
		if slices.Contains(sp.Stratify, d) {
			mark = " (stratified)"
		}
		fmt.Fprintf(w, "\n%s%s: records per part (share of the part)\n", d, mark)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  VALUE\tALL\t%s\n", strings.Join(upper(parts), "\t"))
		for i, v := range vals {
			if i == maxShownValues {
				fmt.Fprintf(tw, "  … %d more values\t\n", len(vals)-i)
				break
			}
			cells := make([]string, len(parts))
			for k, p := range parts {
				cells[k] = fmt.Sprintf("%d (%s)", byVal[v][p], pct(byVal[v][p], sum.Parts[p]))
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\n", clip(v, 40), totals[v], strings.Join(cells, "\t"))
		}
		tw.Flush()
	}
}

func upper(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToUpper(s)
	}
	return out
}

func pct(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

func newSplitCheckCommand(a *app) *cobra.Command {
	var threshold float64
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "check NAME [--threshold D]",
		Short: "Find near-duplicate pairs that cross a split's parts (exit 1 when there are any)",
		Example: `  correctly split check v1
  correctly split check v1 --threshold 0.1 --json`,
		Long: `Embeds every member record again (with the embedder, fields and distance the split was made with,
or --threshold) and lists the near-duplicate pairs whose records sit in different parts. A split
grouped by cluster has none.`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			sp, err := st.GetSplit(ctx, args[0])
			if err != nil {
				return err
			}
			versions, err := st.PromptVersions(ctx, corpus.RecordQuery{Status: corpus.StatusAccepted, Prompt: sp.Prompt, RunIDs: sp.Runs})
			if err != nil {
				return err
			}
			t := threshold
			if t <= 0 {
				t = sp.Threshold
			}
			src, err := a.splitSource(ctx, versions, t)
			if err != nil {
				return err
			}
			if sp.Embedder != "" && sp.Embedder != src.Embedder.ID() {
				return fmt.Errorf("split %s was made with embedder %s, but %s is configured: set CORRECTLY_EMBEDDER to match", sp.ID, sp.Embedder, src.Embedder.ID())
			}
			if len(sp.Fields) > 0 {
				src.Fields = sp.Fields
			}
			if t > 0 {
				src.Threshold = t
			}
			res, err := splits.Check(ctx, src, sp.ID)
			if err != nil {
				return err
			}
			if asJSON {
				if err := a.printJSON(res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.Out, "split %s: %d near-duplicate pairs among %d records (%s on %s, distance ≤ %.3f); %d cross parts\n",
					sp.ID, res.Pairs, res.Records, res.Embedder, strings.Join(res.Fields, ","), res.Threshold, len(res.Cross))
				for i, c := range res.Cross {
					if i == limit {
						fmt.Fprintf(a.Out, "… %d more (--json lists them all)\n", len(res.Cross)-i)
						break
					}
					fmt.Fprintf(a.Out, "  %s (%s)  %s (%s)  %.3f\n", c.A, c.PartA, c.B, c.PartB, c.Distance)
				}
			}
			if len(res.Cross) > 0 {
				return fmt.Errorf("split %s leaks: %d near-duplicate pairs cross parts; create a new split with --group-by cluster", sp.ID, len(res.Cross))
			}
			return nil
		},
	}
	cmd.Flags().Float64Var(&threshold, "threshold", 0, "near-duplicate cosine `distance`; 0 uses the split's")
	cmd.Flags().IntVar(&limit, "limit", 20, "most crossing pairs to list")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newSplitExportCommand(a *app) *cobra.Command {
	var part, format, out string
	cmd := &cobra.Command{
		Use:   "export NAME --part P --format chat|raw|m2 [-o FILE]",
		Short: "Write the records of one part of a split as JSONL (raw or chat) or M2",
		Example: `  correctly split export v1 --part train -o train.jsonl
  correctly split export v1 --part test --format m2 -o test.m2`,
		Long: `The formats are those of corpus export; records come in ID order. A file given with -o is
written whole or not at all.`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if part == "" {
				return usagef("--part is required: give one of the split's parts, like train")
			}
			ctx := cmd.Context()
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			sp, err := st.GetSplit(ctx, args[0])
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(sp.Ratios, func(r corpus.PartRatio) bool { return r.Part == part }) {
				names := make([]string, len(sp.Ratios))
				for i, r := range sp.Ratios {
					names[i] = r.Part
				}
				return usagef("split %s has no part %q: use one of %s", sp.ID, part, strings.Join(names, ", "))
			}
			ids, err := st.SplitMembers(ctx, sp.ID, part)
			if err != nil {
				return err
			}
			n, missing := 0, 0
			err = writeAtomic(a.Out, out, func(w io.Writer) error {
				var err error
				n, missing, err = exportRecordsByID(ctx, st, ids, format, w)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.ErrOut, "exported %d records of %s/%s\n", n, sp.ID, part)
			if missing > 0 {
				fmt.Fprintf(a.ErrOut, "warning: %d member records are no longer in the store\n", missing)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&part, "part", "", "the `part` to export, like train")
	cmd.Flags().StringVar(&format, "format", "chat", "raw, chat or m2")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` instead of stdout")
	return cmd
}

// exportRecordsByID writes the records with the given IDs in the formats of corpus export.
func exportRecordsByID(ctx context.Context, st *corpus.Store, ids []string, format string, w io.Writer) (n, missing int, err error) {
	n, err = writeRecords(ctx, st, format, w, func(fn func(*corpus.Record) error) error {
		var err error
		missing, err = st.EachRecordByID(ctx, ids, fn)
		return err
	})
	return n, missing, err
}
