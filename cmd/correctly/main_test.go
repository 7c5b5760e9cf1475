package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
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
			"llm":      llmCommand,
			"runid":    runIDCommand,
			"disjoint": disjointCommand,
		},
	})
}

// llmCommand adjusts or checks a script's fake LLM server:
//
//	llm faults RATE429 RATE500 RATEMALFORMED   llm latency 50ms   llm key KEY   llm model NAME
//	llm refuse STATUS   llm quota on|off   llm answered N   llm received-at-most N
func llmCommand(ts *testscript.TestScript, neg bool, args []string) {
	srv := ts.Value(llmKey{}).(*llmtest.Server)
	if len(args) < 2 {
		ts.Fatalf("usage: llm faults|latency|key|model|refuse|quota|answered|received-at-most ...")
	}
	f := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		ts.Check(err)
		return v
	}
	check := func(ok bool, format string, a ...any) {
		if ok == neg {
			if neg {
				format = "not: " + format
			}
			ts.Fatalf(format, a...)
		}
	}
	switch args[0] {
	case "faults":
		srv.SetFaults(llmtest.Faults{RateLimit: f(args[1]), Server: f(args[2]), Malformed: f(args[3]), RetryAfter: 10 * time.Millisecond})
	case "latency":
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		srv.Latency = d
	case "key":
		srv.Key = args[1]
	case "model":
		srv.Model = args[1]
	case "refuse":
		srv.Refuse = int(f(args[1]))
	case "quota":
		srv.Quota = args[1] == "on"
	case "answered":
		got := srv.Counts().Answered
		check(fmt.Sprint(got) == args[1], "server answered %d requests, want %s", got, args[1])
	case "received-at-most":
		got := srv.Counts().Requests
		check(got <= int(f(args[1])), "server received %d requests, want at most %s", got, args[1])
	default:
		ts.Fatalf("unknown llm subcommand %q", args[0])
	}
}

// runIDCommand sets the environment variable VAR to the id of the first run in the last command's
// stdout, a `runs list --json`: runid VAR
func runIDCommand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: runid VAR")
	}
	var runs []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &runs); err != nil || len(runs) == 0 {
		ts.Fatalf("runid: stdout holds no runs list: %v", err)
	}
	ts.Setenv(args[0], runs[0].ID)
}

// disjointCommand fails unless the records of two raw exports share no value of a dimension, and
// both hold records: disjoint DIM A.jsonl B.jsonl
func disjointCommand(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: disjoint DIM A.jsonl B.jsonl")
	}
	values := func(file string) map[string]bool {
		out := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(ts.ReadFile(file)), "\n") {
			var r struct {
				Dims map[string]string `json:"dims"`
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				ts.Fatalf("%s: %v", file, err)
			}
			out[r.Dims[args[0]]] = true
		}
		if len(out) == 0 {
			ts.Fatalf("%s holds no record", file)
		}
		return out
	}
	a, b := values(args[1]), values(args[2])
	var shared []string
	for v := range a {
		if b[v] {
			shared = append(shared, v)
		}
	}
	if len(shared) > 0 && !neg {
		ts.Fatalf("%s values in both parts: %q", args[0], shared)
	}
	if len(shared) == 0 && neg {
		ts.Fatalf("no %s value is in both parts", args[0])
	}
}
