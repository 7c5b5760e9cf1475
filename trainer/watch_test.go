package trainer

import (
	"strings"
	"testing"
	"time"

	"github.com/correctly/correctly/corpus"
)

func TestDecideStatusFromTheBoxStateFiles(t *testing.T) {
	const stat = "4242 (bash) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 2 0 777 1000 100"
	run := &corpus.TrainRun{ID: "r", PID: 4242, StartTime: "777", BootID: "boot-a"}
	live := map[string]string{"locked": "1", "pid": "4242", "stat": stat, "boot": "boot-a", "now": "1000", "hb": "998", "phase": "running"}
	with := func(kv map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range live {
			out[k] = v
		}
		for k, v := range kv {
			out[k] = v
		}
		return out
	}
	for _, tc := range []struct {
		name string
		kv   map[string]string
		want string
	}{
		{"running with a fresh heartbeat", live, "RUNNING"},
		{"setting up", with(map[string]string{"phase": "setting_up"}), "SETTING_UP"},
		{"no phase yet", with(map[string]string{"phase": ""}), "STARTING"},
		{"not launched", map[string]string{"phase": ""}, "STARTING"},
		{"old heartbeat", with(map[string]string{"hb": "100"}), "STALLED"},
		{"exit 0", with(map[string]string{"exit": "0", "stat": ""}), "SUCCEEDED"},
		{"exit 137", with(map[string]string{"exit": "137", "stat": ""}), "FAILED(137)"},
		{"cancelled with an exit code", with(map[string]string{"exit": "143", "cancelled": "1"}), "CANCELLED"},
		{"cancelled and killed", with(map[string]string{"stat": "", "cancelled": "1"}), "CANCELLED"},
		{"process gone", with(map[string]string{"stat": ""}), "LOST"},
		{"zombie", with(map[string]string{"stat": "4242 (bash) Z 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 2 0 777 1000 100"}), "LOST"},
		{"pid reused", with(map[string]string{"stat": "4242 (python3) S 1 9 9 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 2 0 999 1000 100"}), "LOST"},
		{"rebooted", with(map[string]string{"boot": "boot-b"}), "LOST"},
		{"run directory gone", map[string]string{"nodir": "1"}, "LOST"},
		{"stopped at --max-duration", with(map[string]string{"exit": "4", "stat": "", "ended_by": "max_duration"}), "TIMED_OUT"},
		{"killed at --max-duration before run.sh wrote the exit code", with(map[string]string{"stat": "", "ended_by": "max_duration"}), "TIMED_OUT"},
		{"still saving its checkpoint at --max-duration", with(map[string]string{"ended_by": "max_duration"}), "RUNNING"},
		{"ended by the stall watchdog", with(map[string]string{"exit": "137", "stat": "", "ended_by": "stalled"}), "STALLED"},
		{"being ended by the stall watchdog", with(map[string]string{"ended_by": "stalled"}), "STALLED"},
		{"cancelled while the watchdog stopped it", with(map[string]string{"exit": "143", "cancelled": "1", "ended_by": "max_duration"}), "CANCELLED"},
		{"out of memory", with(map[string]string{"exit": "3", "stat": ""}), "FAILED(3)"},
	} {
		got := decideStatus(tc.kv, run, time.Minute)
		if got.String() != tc.want {
			t.Errorf("%s: decideStatus = %v (%s), want %s", tc.name, got, got.Detail, tc.want)
		}
		terminal := tc.kv["exit"] != "" || tc.kv["stat"] == "" && tc.kv["ended_by"] != ""
		if tc.kv["ended_by"] != "" && got.Terminal() != terminal {
			t.Errorf("%s: Terminal() = %v, want %v: a job the watchdog ends is over once its processes are gone", tc.name, got.Terminal(), terminal)
		}
	}
	if d := decideStatus(with(map[string]string{"exit": "3", "stat": ""}), run, time.Minute).Detail; !strings.Contains(d, "out of GPU memory: lower batch_size or max_seq_len") {
		t.Errorf("detail of FAILED(3) = %q, want what to lower", d)
	}
}

func TestStatFieldSkipsACommandNameWithSpacesAndParens(t *testing.T) {
	stat := "77 (my (odd) name) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0"
	if got := statField(stat, 22); got != "123456" {
		t.Errorf("statField(..., 22) = %q, want 123456", got)
	}
	if got := statField(stat, 3); got != "R" {
		t.Errorf("statField(..., 3) = %q, want R", got)
	}
}
