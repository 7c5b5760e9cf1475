package main

import (
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/vectors"
)

func init() { commandFactories = append(commandFactories, newDedupCommand, newVectorsCommand) }

func newDedupCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dedup",
		Short: "Ask the corpus for similar records, and find duplicates among accepted ones",
		Long: `Every new record is checked against the whole corpus before it is accepted: exact duplicates by
fingerprint, near duplicates by cosine distance in the vector index. These commands ask the same
index directly.

Examples:
  correctly dedup query "Yesterday I go to Busan with my friend" -k 5
  correctly dedup scan --threshold 0.3            # report clusters, change nothing
  correctly dedup scan --threshold 0.3 --apply    # mark all but the first of each cluster as duplicate`,
	}
	cmd.AddCommand(newDedupQueryCommand(a), newDedupScanCommand(a))
	return cmd
}

func newDedupQueryCommand(a *app) *cobra.Command {
	var (
		k      int
		field  string
		prompt string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "query TEXT [-k 5] [--field before|after]",
		Short: "Print the records nearest to a text, with distances",
		Example: `  correctly dedup query "Yesterday I go to Busan with my friend" -k 5
  correctly dedup query "I am agree with you" --field after --json`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			s, err := resolveSchema(ctx, st, prompt)
			if err != nil {
				return err
			}
			d, err := a.openDedup(ctx, s, 0)
			if err != nil {
				return err
			}
			d.Scope = "all"
			if err := d.Ensure(ctx, field); err != nil {
				return err
			}
			ns, err := d.Similar(ctx, field, args[0], k, "")
			if err != nil {
				return err
			}
			for i := range ns {
				if r, err := st.GetRecord(ctx, ns[i].RecordID); err == nil {
					ns[i].Text, ns[i].Status = fieldText(r.Fields[field]), r.Status
				}
			}
			if asJSON {
				return a.printJSON(ns)
			}
			tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DISTANCE\tID\tSTATUS\tTEXT")
			for _, n := range ns {
				fmt.Fprintf(tw, "%.3f\t%s\t%s\t%s\n", n.Distance, n.RecordID, n.Status, clip(n.Text, 70))
			}
			tw.Flush()
			if len(ns) > 0 && ns[0].Distance <= d.Threshold {
				fmt.Fprintf(a.ErrOut, "the nearest is within the duplicate threshold %.3f\n", d.Threshold)
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&k, "k", "k", 5, "number of neighbours")
	cmd.Flags().StringVar(&field, "field", "before", "field to compare: before or after")
	cmd.Flags().StringVar(&prompt, "prompt", "correction_script", "schema whose dedup settings (embedder threshold) apply")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

type cluster struct {
	Keep    string             `json:"keep"`
	Members []string           `json:"duplicates"`
	Dist    map[string]float64 `json:"distance"`
}

func newDedupScanCommand(a *app) *cobra.Command {
	var (
		threshold float64
		prompt    string
		apply     bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "scan [--threshold T] [--prompt P] [--apply]",
		Short: "Find clusters of near-duplicates among accepted records; mark them only with --apply",
		Example: `  correctly dedup scan
  correctly dedup scan --prompt correction_script --threshold 0.1
  correctly dedup scan --apply --json`,
		Long: `Records accepted before a threshold or embedder change are never silently relabelled. scan
reports the clusters of accepted records within the threshold of each other (connected components);
with --apply the earliest record of each cluster stays accepted and the others become duplicates.`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			ref := prompt
			if ref == "" {
				ref = "correction_script"
			}
			s, err := resolveSchema(ctx, st, ref)
			if err != nil {
				return err
			}
			d, err := a.openDedup(ctx, s, threshold)
			if err != nil {
				return err
			}
			q := corpus.RecordQuery{Status: corpus.StatusAccepted, Prompt: prompt}
			var ids []string
			texts := map[string][]string{}
			err = st.EachRecord(ctx, q, func(r *corpus.Record) error {
				ids = append(ids, r.ID)
				for _, f := range d.Fields {
					texts[r.ID] = append(texts[r.ID], fieldText(r.Fields[f]))
				}
				return nil
			})
			if err != nil {
				return err
			}
			inScope := map[string]bool{}
			for _, id := range ids {
				inScope[id] = true
			}
			parent := map[string]string{}
			var find func(string) string
			find = func(x string) string {
				if p, ok := parent[x]; ok && p != x {
					parent[x] = find(p)
					return parent[x]
				}
				return x
			}
			dist := map[string]float64{}
			for fi, f := range d.Fields {
				coll := vectors.CollectionName(f, d.Embedder.ID())
				const batch = 256
				for i := 0; i < len(ids); i += batch {
					chunk := ids[i:min(i+batch, len(ids))]
					tx := make([]string, len(chunk))
					for j, id := range chunk {
						tx[j] = texts[id][fi]
					}
					vecs, err := d.Embedder.Embed(ctx, tx)
					if err != nil {
						return err
					}
					hits, err := d.Index.Query(ctx, coll, vecs, 10, nil)
					if err != nil {
						return err
					}
					for j, id := range chunk {
						for _, h := range hits[j] {
							if h.ID == id || !inScope[h.ID] || float64(h.Distance) > d.Threshold {
								continue
							}
							x, y := find(id), find(h.ID)
							if x != y {
								if y < x {
									x, y = y, x
								}
								parent[y] = x
							}
							late := max(id, h.ID)
							if old, ok := dist[late]; !ok || float64(h.Distance) < old {
								dist[late] = float64(h.Distance)
							}
						}
					}
				}
			}
			groups := map[string][]string{}
			for _, id := range ids {
				root := find(id)
				if root != id {
					groups[root] = append(groups[root], id)
				}
			}
			var out []cluster
			for _, root := range sortedKeys(groups) {
				m := groups[root]
				sort.Strings(m)
				c := cluster{Keep: root, Members: m, Dist: map[string]float64{}}
				for _, id := range m {
					c.Dist[id] = dist[id]
				}
				out = append(out, c)
			}
			if apply {
				for _, c := range out {
					for _, id := range c.Members {
						if err := st.SetRecordStatus(ctx, id, corpus.StatusDuplicate, c.Keep, c.Dist[id]); err != nil {
							return err
						}
					}
				}
			}
			if asJSON {
				if out == nil {
					out = []cluster{}
				}
				return a.printJSON(map[string]any{"threshold": d.Threshold, "scanned": len(ids), "clusters": out, "applied": apply})
			}
			n := 0
			for _, c := range out {
				fmt.Fprintf(a.Out, "keep %s\n", c.Keep)
				for _, id := range c.Members {
					fmt.Fprintf(a.Out, "  dup %s  %.3f\n", id, c.Dist[id])
					n++
				}
			}
			verb := "would be marked duplicate (run with --apply to mark them)"
			if apply {
				verb = "marked duplicate"
			}
			fmt.Fprintf(a.ErrOut, "scanned %d accepted records at threshold %.3f: %d clusters, %d records %s\n", len(ids), d.Threshold, len(out), n, verb)
			return nil
		},
	}
	cmd.Flags().Float64Var(&threshold, "threshold", 0, "cosine distance (default: the schema's, else the embedder's calibrated one)")
	cmd.Flags().StringVar(&prompt, "prompt", "", "only records of this prompt `NAME[@VERSION]`")
	cmd.Flags().BoolVar(&apply, "apply", false, "mark the duplicates (otherwise only report)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newVectorsCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vectors",
		Short: "Maintain the vector index (MongoDB stays the source of truth)",
	}
	var prompt string
	var asJSON bool
	reindex := &cobra.Command{
		Use:   "reindex [--embedder E]",
		Short: "Rebuild the vector index from the accepted records",
		Example: `  correctly vectors reindex
  CORRECTLY_EMBEDDER=openai correctly vectors reindex --prompt correction_script --json`,
		Long: `Drop the index collections of the configured embedder (set it with --embedder or
CORRECTLY_EMBEDDER: hash or openai) and embed every accepted record again. Vectors of different
embedders live in different collections and are never mixed.`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if e, _ := cmd.Flags().GetString("embedder"); e != "" {
				c, err := a.config()
				if err != nil {
					return err
				}
				c.Embedder = e
			}
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			s, err := resolveSchema(ctx, st, prompt)
			if err != nil {
				return err
			}
			d, err := a.openDedup(ctx, s, 0)
			if err != nil {
				return err
			}
			n, err := d.Reindex(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(map[string]any{"embedder": d.Embedder.ID(), "vectors": n})
			}
			fmt.Fprintf(a.Out, "reindexed %d vectors with %s\n", n, d.Embedder.ID())
			return nil
		},
	}
	reindex.Flags().String("embedder", "", "embedder: hash or openai (default CORRECTLY_EMBEDDER, else hash)")
	reindex.Flags().StringVar(&prompt, "prompt", "correction_script", "schema whose dedup fields are indexed")
	reindex.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(reindex)
	return cmd
}
