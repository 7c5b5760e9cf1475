package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/generator"
	"github.com/correctly/correctly/prompts"
)

func init() { commandFactories = append(commandFactories, newPromptsCommand) }

// storePrompt adds a schema version to the store; it reports whether the version is new.
func storePrompt(ctx context.Context, st *corpus.Store, s *prompts.Schema) (bool, error) {
	return st.AddPrompt(ctx, &corpus.Prompt{
		ID: s.Version(), Name: s.Name, Doc: s.Doc, Canonical: string(s.Canonical()), File: s.File,
		CreatedAt: time.Now().UTC(),
	})
}

// schemaOf rebuilds the schema of a stored prompt version.
func schemaOf(p *corpus.Prompt) (*prompts.Schema, error) {
	s, err := prompts.Parse(p.Name+"@"+short(p.ID), []byte(p.Canonical))
	if err != nil {
		return nil, fmt.Errorf("stored prompt %s@%s no longer parses: %w", p.Name, short(p.ID), err)
	}
	return s, nil
}

// resolveSchema finds a schema by file path, NAME or NAME@VERSION. A file is stored as a new version;
// a built-in schema's name works before `correctly init` and is stored on first use.
func resolveSchema(ctx context.Context, st *corpus.Store, ref string) (*prompts.Schema, error) {
	if strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml") {
		if _, err := os.Stat(ref); err == nil {
			s, err := prompts.Load(ref)
			if err != nil {
				return nil, err
			}
			if _, err := storePrompt(ctx, st, s); err != nil {
				return nil, err
			}
			return s, nil
		}
	}
	p, err := st.FindPrompt(ctx, ref)
	if err == nil {
		return schemaOf(p)
	}
	if !errors.Is(err, corpus.ErrNotFound) || strings.Contains(ref, "@") {
		return nil, err
	}
	builtin, berr := prompts.Builtin()
	if berr != nil {
		return nil, berr
	}
	for _, s := range builtin {
		if s.Name == ref {
			if _, err := storePrompt(ctx, st, s); err != nil {
				return nil, err
			}
			return s, nil
		}
	}
	return nil, err
}

func short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}

func newPromptsCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prompts",
		Short: "Add, list, show, diff and render prompt schemas",
		Long: `A prompt schema is a YAML file: dimensions sampled per record, steps sent to the LLM in order,
validators, and chat templates for training. Each distinct content is an immutable version, named by
the SHA-256 of its canonical form; refer to NAME (the latest) or NAME@<first 8+ hex digits>.

Examples:
  correctly prompts add my_schema.yaml
  correctly prompts list
  correctly prompts render correction_script -n 3 --seed 42
  correctly prompts diff correction_script@1a2b3c4d correction_script`,
	}
	cmd.AddCommand(newPromptsAddCommand(a), newPromptsListCommand(a), newPromptsShowCommand(a),
		newPromptsDiffCommand(a), newPromptsRenderCommand(a))
	return cmd
}

type promptView struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	New       bool      `json:"new,omitempty"`
	File      string    `json:"file,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func newPromptsAddCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add FILE...",
		Short: "Check schema files and store them as new versions",
		Example: `  correctly prompts add my_schema.yaml
  correctly prompts add schemas/*.yaml --json`,
		Long: `Parse and check each file (YAML syntax, fields, templates, validators); a problem is reported as
file:line:col with the path of the offending field, and then nothing is stored. Adding content that is
already stored is a no-op: versions are immutable.`,
		Args: wrapArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, files []string) error {
			var schemas []*prompts.Schema
			var errs []error
			for _, f := range files {
				s, err := prompts.Load(f)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				schemas = append(schemas, s)
			}
			if len(errs) > 0 {
				return fmt.Errorf("nothing stored:\n%w", errors.Join(errs...))
			}
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			var out []promptView
			for _, s := range schemas {
				isNew, err := storePrompt(cmd.Context(), st, s)
				if err != nil {
					return err
				}
				out = append(out, promptView{Name: s.Name, Version: s.Version(), New: isNew, File: s.File})
			}
			if asJSON {
				return a.printJSON(out)
			}
			for _, p := range out {
				state := "unchanged"
				if p.New {
					state = "added"
				}
				fmt.Fprintf(a.Out, "%s@%s\t%s\t%s\n", p.Name, short(p.Version), state, p.File)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPromptsListCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List stored prompt versions, newest first",
		Example: `  correctly prompts list
  correctly prompts list --json`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			ps, err := st.PromptList(cmd.Context())
			if err != nil {
				return err
			}
			out := make([]promptView, 0, len(ps))
			for _, p := range ps {
				out = append(out, promptView{Name: p.Name, Version: p.ID, File: p.File, CreatedAt: p.CreatedAt})
			}
			if asJSON {
				return a.printJSON(out)
			}
			tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tADDED\tFILE")
			for _, p := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, short(p.Version), p.CreatedAt.Local().Format("2006-01-02 15:04"), p.File)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPromptsShowCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME[@VERSION]",
		Short: "Print a stored schema in canonical form",
		Example: `  correctly prompts show correction_script
  correctly prompts show correction_script@1a2b3c4d --json`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			s, err := resolveSchema(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(map[string]any{"name": s.Name, "version": s.Version(), "doc": s.Doc})
			}
			fmt.Fprintf(a.Out, "# %s@%s\n%s", s.Name, s.Version(), s.Canonical())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPromptsDiffCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "diff A B",
		Short: "Show a unified diff between two schema versions (or files)",
		Example: `  correctly prompts diff correction_script@1a2b3c4d correction_script
  correctly prompts diff correction_script my_schema.yaml`,
		Args: wrapArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			x, err := resolveSchema(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			y, err := resolveSchema(cmd.Context(), st, args[1])
			if err != nil {
				return err
			}
			d := prompts.Diff(x, y)
			if d == "" {
				fmt.Fprintln(a.ErrOut, "no difference")
				return nil
			}
			fmt.Fprint(a.Out, d)
			return nil
		},
	}
}

type renderedStep struct {
	Step   string `json:"step"`
	Model  string `json:"model"`
	System string `json:"system"`
	User   string `json:"user"`
	Output string `json:"output"`
}

type renderedSlot struct {
	Slot  int               `json:"slot"`
	Dims  map[string]string `json:"dims"`
	Steps []renderedStep    `json:"steps"`
}

// renderSlots renders the prompts of the first n slots. Fields of earlier steps are not known without
// asking the LLM, so they are shown as <field>.
func renderSlots(ctx context.Context, s *prompts.Schema, seed int64, n int, model string, examples func(context.Context, *prompts.Examples, map[string]any) ([]map[string]any, error)) ([]renderedSlot, error) {
	be := &generator.LLMBackend{Schema: s, Model: model}
	run := &corpus.Run{Seed: seed}
	var out []renderedSlot
	for i := 0; i < n; i++ {
		slot := &generator.Slot{Run: run, Index: i, Dims: s.Sample(seed, i), Negative: s.Negative(seed, i)}
		data := generator.TemplateData(slot)
		rs := renderedSlot{Slot: i, Dims: slot.Dims}
		for si := range s.Steps {
			st := &s.Steps[si]
			if st.Examples != nil {
				data["examples"] = []map[string]any{}
				if examples != nil {
					ex, err := examples(ctx, st.Examples, data)
					if err != nil {
						return nil, err
					}
					data["examples"] = ex
				}
			}
			req, err := be.Request(st, data)
			if err != nil {
				return nil, fmt.Errorf("slot %d step %s: %w", i, st.Name, err)
			}
			rs.Steps = append(rs.Steps, renderedStep{Step: st.Name, Model: req.Model, System: req.System, User: req.User, Output: st.Output.Format})
			for _, f := range st.Output.Fields {
				if f.Type == prompts.TypeList {
					data[f.Name] = []string{"<" + f.Name + ">"}
				} else {
					data[f.Name] = "<" + f.Name + ">"
				}
			}
		}
		out = append(out, rs)
	}
	return out, nil
}

func printRendered(a *app, slots []renderedSlot) {
	for _, rs := range slots {
		fmt.Fprintf(a.Out, "=== slot %d  %s\n", rs.Slot, formatDims(rs.Dims))
		for _, st := range rs.Steps {
			fmt.Fprintf(a.Out, "--- step %s (%s, %s output)\n", st.Step, st.Model, st.Output)
			if st.System != "" {
				fmt.Fprintf(a.Out, "[system]\n%s\n", st.System)
			}
			fmt.Fprintf(a.Out, "[user]\n%s\n", st.User)
		}
		fmt.Fprintln(a.Out)
	}
}

func formatDims(d map[string]string) string {
	keys := sortedKeys(d)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + d[k]
	}
	return strings.Join(parts, " ")
}

func newPromptsRenderCommand(a *app) *cobra.Command {
	var (
		n      int
		seed   int64
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "render NAME[@VERSION]|FILE [-n 3] [--seed S]",
		Short: "Show sampled, rendered prompts without calling the LLM",
		Example: `  correctly prompts render correction_script -n 2
  correctly prompts render my_schema.yaml --seed 7 --json`,
		Long: `Sample the dimensions of the first N slots for a seed and print each step's system and user
prompt exactly as they would be sent. Fields that earlier steps would produce are shown as <field>.
No request is made.`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			s, err := resolveSchema(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("seed") {
				seed = rand.Int64N(1 << 31)
			}
			c, err := a.config()
			if err != nil {
				return err
			}
			ex, err := a.examplesFunc(cmd.Context(), s)
			if err != nil {
				return err
			}
			slots, err := renderSlots(cmd.Context(), s, seed, n, modelOverride(c), ex)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(map[string]any{"prompt": s.Name, "version": s.Version(), "seed": seed, "slots": slots})
			}
			fmt.Fprintf(a.Out, "# %s@%s  seed %d\n\n", s.Name, short(s.Version()), seed)
			printRendered(a, slots)
			return nil
		},
	}
	cmd.Flags().IntVarP(&n, "n", "n", 3, "number of slots to render")
	cmd.Flags().Int64Var(&seed, "seed", 0, "sampling seed (default: random)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// modelOverride returns the model set by CORRECTLY_MODEL or the config file; the built-in default does
// not override a schema's own params.model.
func modelOverride(c *config) string {
	for _, s := range c.settings {
		if s.Key == "model" && s.Source != "default" {
			return s.Value
		}
	}
	return ""
}
