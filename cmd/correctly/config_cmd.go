package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func init() { commandFactories = append(commandFactories, newConfigCommand) }

func newConfigCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the resolved configuration and where each value came from",
		Example: `  correctly config
  correctly config --json
  MONGODB_URI=mongodb://127.0.0.1:27017 correctly config`,
		Long: `Print every setting, its value and its source. Precedence: flag > environment >
config file ($XDG_CONFIG_HOME/correctly/config.yaml) > default. Secrets (OPENAI_API_KEY, HF_TOKEN)
are read only from the environment and are never printed.`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.config()
			if err != nil {
				return err
			}
			view := c.redacted()
			if asJSON {
				return a.printJSON(view)
			}
			tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tENV\tVALUE\tSOURCE")
			for _, s := range view {
				v := s.Value
				if v == "" {
					v = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, s.Env, v, s.Source)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
