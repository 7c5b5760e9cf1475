package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/correctly/correctly/llmtest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"correctly": main})
}

type llmKey struct{}

// TestScripts runs the end-to-end CLI scripts in testdata/script. Each script gets its own fake LLM
// server (OPENAI_BASE_URL) and its own data directory; `llm` adjusts the server from a script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			srv := llmtest.New()
			env.Defer(srv.Close)
			env.Values[llmKey{}] = srv
			env.Setenv("OPENAI_BASE_URL", srv.BaseURL())
			env.Setenv("OPENAI_API_KEY", "sk-test-secret-key")
			env.Setenv("CORRECTLY_DATA_DIR", filepath.Join(env.WorkDir, "data"))
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, "config"))
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// llm faults RATE429 RATE500 RATEMALFORMED | llm latency 50ms | llm key KEY | llm count answered N
			"llm": func(ts *testscript.TestScript, neg bool, args []string) {
				srv := ts.Value(llmKey{}).(*llmtest.Server)
				if len(args) < 2 {
					ts.Fatalf("usage: llm faults|latency|key|requests ...")
				}
				f := func(s string) float64 {
					v, err := strconv.ParseFloat(s, 64)
					ts.Check(err)
					return v
				}
				switch args[0] {
				case "faults":
					srv.Faults = llmtest.Faults{RateLimit: f(args[1]), Server: f(args[2]), Malformed: f(args[3]), RetryAfter: 10 * time.Millisecond}
				case "latency":
					d, err := time.ParseDuration(args[1])
					ts.Check(err)
					srv.Latency = d
				case "key":
					srv.Key = args[1]
				case "answered":
					got := srv.Counts().Answered
					if fmt.Sprint(got) != args[1] && !neg {
						ts.Fatalf("server answered %d requests, want %s", got, args[1])
					}
				default:
					ts.Fatalf("unknown llm subcommand %q", args[0])
				}
			},
		},
	})
}

var _ = os.Getenv
