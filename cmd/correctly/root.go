package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/vectors"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// app is what every command shares: output streams, the logger, the resolved configuration and lazy
// openers, so that a command which needs no database never dials one.
type app struct {
	Out    io.Writer
	ErrOut io.Writer
	Log    zerolog.Logger
	Getenv func(string) string

	flags    map[string]*string // config keys given as global flags
	logLevel string
	cfg      *config
	st       *corpus.Store
	idx      vectors.Index
}

func (a *app) config() (*config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	given := map[string]string{}
	for k, v := range a.flags {
		given[k] = *v
	}
	c, err := loadConfig(a.Getenv, given)
	if err != nil {
		return nil, err
	}
	a.cfg = c
	return c, nil
}

// store opens the corpus store once: the MongoDB server when MONGODB_URI is set, else the embedded one.
func (a *app) store(ctx context.Context) (*corpus.Store, error) {
	if a.st != nil {
		return a.st, nil
	}
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	st, err := corpus.Open(ctx, corpus.Options{URI: c.MongoURI, DB: c.DB, DataDir: c.DataDir, Log: a.Log})
	if err != nil {
		return nil, err
	}
	a.st = st
	return st, nil
}

func (a *app) close() {
	if a.idx != nil {
		a.idx.Close()
		a.idx = nil
	}
	if a.st != nil {
		a.st.Close()
		a.st = nil
	}
}

// isTerminal reports whether w is an interactive terminal (progress bars and colours only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.Out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// usageError marks an error caused by how the command was called (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// wrapArgs turns cobra's argument-count errors into usage errors.
func wrapArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "correctly",
		Short: "Generate, check and ship training data for an English-correction chatbot",
		Long: `correctly turns prompt schemas into training data for a chatbot that rewrites the awkward English
Korean learners write (교정 전) into natural English (교정 후), with a Korean translation (해석) and
the correction points (교정 지점).

Everything is kept in MongoDB: prompt versions, runs, records and splits. Without MONGODB_URI an
embedded MongoDB-compatible store runs in the data directory, so nothing needs to be installed.

Start here:
  correctly init                                   create the store and load the default schema
  correctly prompts render correction_script -n 2  see what the LLM will be asked
  correctly generate --prompt correction_script -n 20
  correctly corpus list                            look at the records`,
		Version:       version,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			lvl, err := zerolog.ParseLevel(a.logLevel)
			if err != nil {
				return usagef("--log-level %q: use trace, debug, info, warn or error", a.logLevel)
			}
			a.Log = a.Log.Level(lvl)
			return nil
		},
	}
	root.SetOut(a.Out)
	root.SetErr(a.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.logLevel, "log-level", "info", "log `level`: trace, debug, info, warn, error")
	a.flags = map[string]*string{
		"data_dir":    pf.String("data-dir", "", "data `directory` of the embedded store and index (env CORRECTLY_DATA_DIR)"),
		"mongodb_uri": pf.String("mongodb-uri", "", "MongoDB server `URI`; empty uses the embedded store (env MONGODB_URI)"),
		"db":          pf.String("db", "", "database `name` (env CORRECTLY_DB, default correctly)"),
		"chroma_url":  pf.String("chroma-url", "", "Chroma server `URL`; empty uses the embedded index (env CHROMA_URL)"),
	}
	for _, c := range commands(a) {
		root.AddCommand(c)
	}
	return root
}

// commands lists every top-level command; each lives in its own file.
var commandFactories []func(*app) *cobra.Command

func commands(a *app) []*cobra.Command {
	out := make([]*cobra.Command, 0, len(commandFactories))
	for _, f := range commandFactories {
		out = append(out, f(a))
	}
	return out
}

func newLogger(w io.Writer) zerolog.Logger {
	if isTerminal(w) {
		return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}).With().Timestamp().Logger()
	}
	return zerolog.New(w).With().Timestamp().Logger()
}

// run executes the command line and maps the outcome to an exit code: 0 ok, 1 failure, 2 usage,
// 130 interrupted.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{Out: stdout, ErrOut: stderr, Log: newLogger(stderr), Getenv: os.Getenv}
	defer a.close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if ctx.Err() != nil { // a signal arrived: whatever the command made of it, it was interrupted
		fmt.Fprintln(stderr, "correctly:", err)
		return 130
	}
	fmt.Fprintln(stderr, "correctly:", err)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") {
		return 2
	}
	return 1
}
