package trainer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// benchPush pushes bundle to a fresh run directory and returns how long it took.
func benchPush(b *testing.B, c *Client, bundle string, target Endpoint, id string) (time.Duration, *PushResult) {
	b.Helper()
	t0 := time.Now()
	res, err := c.Push(context.Background(), PushOptions{Bundle: bundle, Target: target, RemoteDir: b.TempDir(), RunID: id})
	if err != nil {
		b.Fatalf("Push: %v", err)
	}
	return time.Since(t0), res
}

func mibPerSec(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

// BenchmarkPush256MiBAgainstScpAndRsync pushes a 256 MiB bundle to a local sshd (upload, SHA-256
// check on the box, launch) and copies the same blob with scp and rsync in the same run.
// Goal: push_MiB/s >= 0.9 x scp_MiB/s (push/scp metric).
func BenchmarkPush256MiBAgainstScpAndRsync(b *testing.B) {
	box := startBox(b)
	c, _ := testClient(b, box)
	bundle, m := writeTestBundle(b, fakeSpec{}, 256<<20, nil)
	blob := filepath.Join(bundle, "data", "blob.bin")
	sshCmd := []string{"-F", "/dev/null", "-i", box.ClientKey, "-o", "UserKnownHostsFile=" + box.KnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"}
	remote := box.User + "@127.0.0.1:"
	var pushT, scpT, rsyncT time.Duration
	for i := 0; i < b.N; i++ {
		d, _ := benchPush(b, c, bundle, box.endpoint(0), fmt.Sprintf("bench-%d", i))
		pushT += d

		dst := filepath.Join(b.TempDir(), "blob.bin")
		args := append(append([]string{"-q", "-P", strconv.Itoa(box.Port)}, sshCmd...), blob, remote+dst)
		t0 := time.Now()
		if out, err := exec.Command("scp", args...).CombinedOutput(); err != nil {
			b.Fatalf("scp: %v: %s", err, out)
		}
		scpT += time.Since(t0)

		dst = filepath.Join(b.TempDir(), "blob.bin")
		e := "ssh -p " + strconv.Itoa(box.Port)
		for _, a := range sshCmd {
			e += " " + a
		}
		t0 = time.Now()
		if out, err := exec.Command("rsync", "-a", "-e", e, blob, remote+dst).CombinedOutput(); err != nil {
			b.Fatalf("rsync: %v: %s", err, out)
		}
		rsyncT += time.Since(t0)
	}
	size := m.Size()
	fi, _ := os.Stat(blob)
	n := float64(b.N)
	b.ReportMetric(mibPerSec(size*int64(b.N), pushT), "push_MiB/s")
	b.ReportMetric(mibPerSec(fi.Size()*int64(b.N), scpT), "scp_MiB/s")
	b.ReportMetric(mibPerSec(fi.Size()*int64(b.N), rsyncT), "rsync_MiB/s")
	b.ReportMetric(scpT.Seconds()/pushT.Seconds()*float64(size)/float64(fi.Size()), "push/scp")
	b.ReportMetric(rsyncT.Seconds()/pushT.Seconds()*float64(size)/float64(fi.Size()), "push/rsync")
	_ = n
}

// BenchmarkPushThroughRelayAt50msRTT pushes a 64 MiB bundle through a relay adding 25 ms each way.
// Goal: >= 10 MiB/s.
func BenchmarkPushThroughRelayAt50msRTT(b *testing.B) {
	box := startBox(b)
	r := startRelay(b, box.Port)
	r.SetDelay(25 * time.Millisecond)
	box.trustOn(b, r.Port)
	c, _ := testClient(b, box)
	bundle, m := writeTestBundle(b, fakeSpec{}, 64<<20, nil)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		d, _ := benchPush(b, c, bundle, box.endpoint(r.Port), fmt.Sprintf("rtt-%d", i))
		total += d
	}
	b.ReportMetric(mibPerSec(m.Size()*int64(b.N), total), "MiB/s")
}

// BenchmarkResumeAfterCutAt40Percent cuts the first connection after 40% of a 256 MiB bundle, then
// pushes the run again. Goal: bytes already on the box that are sent again <= 2 MiB + 1% of the bundle.
func BenchmarkResumeAfterCutAt40Percent(b *testing.B) {
	box := startBox(b)
	c, _ := testClient(b, box)
	c.Retries = -1
	const size = 256 << 20
	bundle, m := writeTestBundle(b, fakeSpec{}, size, nil)
	var resent, worst int64
	for i := 0; i < b.N; i++ {
		r := startRelay(b, box.Port)
		box.trustOn(b, r.Port)
		r.SetCutAfter(func(n int) int64 {
			if n == 0 {
				return size * 4 / 10
			}
			return 0
		})
		o := PushOptions{Bundle: bundle, Target: box.endpoint(r.Port), RemoteDir: b.TempDir(), RunID: fmt.Sprintf("resume-%d", i)}
		res, err := c.Push(context.Background(), o)
		if err == nil {
			b.Fatal("Push through a link cut at 40% succeeded")
		}
		fi, err := os.Stat(filepath.Join(o.RemoteDir, o.RunID, "data", "blob.bin.part"))
		if err != nil {
			b.Fatalf("no .part on the box after the cut: %v", err)
		}
		o.Run = res.Run
		res2, err := c.Push(context.Background(), o)
		if err != nil {
			b.Fatalf("resumed Push: %v", err)
		}
		d := fi.Size() - res2.Skipped + res2.Repaired
		resent += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(resent)/float64(b.N), "resent_bytes")
	b.ReportMetric(float64(2<<20+m.Size()/100), "limit_bytes")
	b.ReportMetric(float64(worst)/(1<<20), "worst_resent_MiB")
}
